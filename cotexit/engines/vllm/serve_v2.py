"""The serve plug-in on Model Runner V2: `ServeControl` behind the V2 interface.

Owns `CotexitServeProcessorV2` and its entry-point form
`CotexitServeEntryPointV2` (`cotexit.engines.vllm.serve_entry`). Rows are
keyed by vLLM's request id and forgotten when the runner drops the request.
V2 frees a preempted request's slot as it frees a finished one's, so a
preempted request that comes back restarts its row from its token history
(its cues without states, an exit already forced not remembered). Not run
end to end here (Model Runner V2 needs Triton, which the CPU build lacks).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import torch

from cotexit.engines.vllm.capture import StatesSource
from cotexit.engines.vllm.model_capture import check_config
from cotexit.engines.vllm.processor_v2 import CotexitLogitsProcessorV2
from cotexit.engines.vllm.runners import building_runner, states_for
from cotexit.engines.vllm.serve import ServeControl
from cotexit.engines.vllm.serve_entry import EntryPoint, entry_point_acts

__all__ = ["CotexitServeEntryPointV2", "CotexitServeProcessorV2"]


class CotexitServeProcessorV2(CotexitLogitsProcessorV2):
    """The plug-in on Model Runner V2. `runner` and `states` are for tests: vLLM passes neither; the runner
    building the processor keys the rows by its request ids, and its capture model gives the states."""

    control_class = ServeControl

    def __init__(self, vllm_config: Any, req_states: Any, *, runner: Any = None, states: StatesSource | None = None) -> None:
        runner = runner if runner is not None else building_runner(v2=True)
        control = ServeControl(vllm_config)
        if states is None:
            check_config(vllm_config, control.layers)
            states = states_for(runner, control.layers, v2=True)
        self.requests = runner.req_states  # the runner's request states: request ids by slot
        super().__init__(vllm_config, req_states, states=states, control=control)

    def identity(self, slot: int) -> Hashable:
        return self.requests.index_to_req_id[slot]

    def add_request(self, req_idx: int, sampling_params: Any) -> bool:
        self.control.forget(set(self.requests.req_id_to_index))
        if req_idx not in self.requests.index_to_req_id:  # vLLM's sampler warm-up (0.33+) fills slots with no request
            self.slots.pop(req_idx, None)
            return False
        return super().add_request(req_idx, sampling_params)


class CotexitServeEntryPointV2(EntryPoint, CotexitServeProcessorV2):
    """`CotexitServeProcessorV2` as the entry point builds it: acting only where `entry_point_acts`, else inert."""

    def __init__(self, vllm_config: Any, req_states: Any, **kwargs: Any) -> None:
        self.acting = entry_point_acts(vllm_config)
        if self.acting:
            super().__init__(vllm_config, req_states, **kwargs)

    def add_request(self, req_idx: int, sampling_params: Any) -> bool:
        return self.acting and super().add_request(req_idx, sampling_params)

    def apply_staged_writes(self) -> None:
        if self.acting:
            super().apply_staged_writes()

    def apply(self, logits: torch.Tensor, ctx: Any) -> torch.Tensor:
        return super().apply(logits, ctx) if self.acting else logits
