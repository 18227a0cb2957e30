"""The controller inside vLLM's V1 model runner: a logits processor of the V1 interface, over `control`.

Owns `CotexitLogitsProcessor`, the adapter between vLLM's V1 processor
interface (`vllm.v1.sample.logits_processor.LogitsProcessor`) and the
runner-neutral controller (`cotexit.engines.vllm.control`, which holds the
logic: feeding tokens, asking the policies, acting on an exit). vLLM builds
the processor once per model runner and calls, every step,
`update_state(batch_update)` (requests added to, removed from or moved within
the persistent batch, each added one with its `SamplingParams`, its prompt
ids and a live reference to its output token ids) and then, after the step's
forward, `apply(logits)`: row i of the logits is the runner's `input_batch`
row i, whose request's newest token the capture model's buffer holds at
flattened row `query_start_loc[i + 1] - 1` (`cotexit.engines.vllm.capture`). This adapter only keeps {batch row: (request, its output list)} through
those updates and hands each row to `Control.step`; a request added with
output tokens already is one preempted and back (not fresh).

Why this design: the capture model's outputs plus a logits processor need
no extra forward and no change to vLLM's code; both run in the worker
process, so the processor reads the model's buffer without crossing
processes, compiled or eager. Model Runner V2 has its own interface
(`cotexit.engines.vllm.processor_v2`). The per-step cost is a dict walk over
the batch and a gather of the probe layers' newest-token rows. The offline
engine gives the processor its states source when it registers a setup
(`cotexit.engines.vllm.workers.register`).

`SETUPS`, `EXTRA_KEY` and `LIVE` are `control`'s, named here too for the
offline engine and its workers.
"""

from __future__ import annotations

from typing import Any

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

from cotexit.controller.acting import RowStates
from cotexit.engines.vllm.capture import NO_STATES, StatesSource
from cotexit.engines.vllm.control import EXTRA_KEY, LIVE, SETUPS, Control, Request

__all__ = ["EXTRA_KEY", "LIVE", "SETUPS", "CotexitLogitsProcessor"]


class CotexitLogitsProcessor(LogitsProcessor):
    control_class: type[Control] = Control  # whose `validate` checks a request's arguments

    def __init__(
        self, vllm_config: Any, device: torch.device, is_pin_memory: bool, states: StatesSource = NO_STATES,
        control: Control | None = None,
    ) -> None:
        self.states = states
        self.control = control if control is not None else self.control_class()
        self.batch: dict[int, tuple[Request, list[int]]] = {}  # input-batch row -> (request, vLLM's output list)
        LIVE.add(self)

    @property
    def rows(self) -> dict[Any, Request]:
        """The controller's requests, kept after they leave the batch."""
        return self.control.rows

    @classmethod
    def validate_params(cls, params: Any) -> None:
        cls.control_class.validate(params)

    def is_argmax_invariant(self) -> bool:
        return False  # it changes what greedy decoding picks, so it runs before the argmax

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        if batch_update is None:
            return
        for index in batch_update.removed:
            self.batch.pop(index, None)
        for index, params, prompt_ids, out in batch_update.added:
            if not self.control.wants(params):
                self.batch.pop(index, None)  # a slot reused by a request without a controller
                continue
            request = self.control.open(params, id(out), lambda: list(prompt_ids or []), fresh=not out)
            self.batch[index] = (request, out)
        for a, b, direction in batch_update.moved:
            moved, other = self.batch.pop(a, None), self.batch.pop(b, None)
            if moved is not None:
                self.batch[b] = moved
            if direction == MoveDirectionality.SWAP and other is not None:
                self.batch[a] = other

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        states = self.states.take(logits.shape[0]) if self.batch else {}
        for index, (request, out) in self.batch.items():
            self.control.step(logits, index, request, out, RowStates(states, index) if states else None)
        return logits
