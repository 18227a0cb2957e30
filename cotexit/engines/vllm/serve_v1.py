"""The serve plug-in on vLLM's V1 model runner (vLLM 0.32 and 0.33): `ServeControl` behind the V1 interface.

Owns `CotexitServeProcessorV1` and its entry-point form
`CotexitServeEntryPointV1` (`cotexit.engines.vllm.serve_entry`). Imported
only where vLLM still has the V1 runner (`serve.__getattr__`). Rows are
keyed by vLLM's output list, which a preempted request keeps, and forgotten
when vLLM drops the request.
"""

from __future__ import annotations

from typing import Any

import torch

from cotexit.engines.vllm.capture import StatesSource
from cotexit.engines.vllm.model_capture import check_config
from cotexit.engines.vllm.processor import CotexitLogitsProcessor
from cotexit.engines.vllm.runners import building_runner, states_for
from cotexit.engines.vllm.serve import ServeControl
from cotexit.engines.vllm.serve_entry import EntryPoint, entry_point_acts

__all__ = ["CotexitServeEntryPointV1", "CotexitServeProcessorV1"]


class CotexitServeProcessorV1(CotexitLogitsProcessor):
    """The plug-in on vLLM's V1 model runner. `runner` and `states` are for tests: vLLM passes neither, and the
    processor finds its runner and reads the capture model's buffer through it."""

    control_class = ServeControl

    def __init__(
        self, vllm_config: Any, device: torch.device, is_pin_memory: bool, *, runner: Any = None,
        states: StatesSource | None = None,
    ) -> None:
        self.runner = runner if runner is not None else building_runner(v2=False)
        control = ServeControl(vllm_config)
        if states is None:
            check_config(vllm_config, control.layers)
            states = states_for(self.runner, control.layers, v2=False)
        super().__init__(vllm_config, device, is_pin_memory, states=states, control=control)

    def update_state(self, batch_update: Any) -> None:
        super().update_state(batch_update)
        if batch_update is not None and (batch_update.removed or batch_update.added):
            # A request that left freed its row in `removed`, or, when a new request took its row at once, only
            # shows as that row in `added`. vLLM drops a finished request's cached state before this; a preempted
            # one keeps it (and its output list).
            self.control.forget({id(state.output_token_ids) for state in self.runner.requests.values()})


class CotexitServeEntryPointV1(EntryPoint, CotexitServeProcessorV1):
    """`CotexitServeProcessorV1` as the entry point builds it: acting only where `entry_point_acts`, else inert."""

    def __init__(self, vllm_config: Any, device: torch.device, is_pin_memory: bool, **kwargs: Any) -> None:
        self.acting = entry_point_acts(vllm_config)
        if self.acting:
            super().__init__(vllm_config, device, is_pin_memory, **kwargs)

    def is_argmax_invariant(self) -> bool:
        return not self.acting  # inert: vLLM skips it for greedy batches

    def update_state(self, batch_update: Any) -> None:
        if self.acting:
            super().update_state(batch_update)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        return super().apply(logits) if self.acting else logits
