"""The controller inside vLLM: a V1 logits processor that watches cues, scores the probe and stops requests.

Owns `CotexitLogitsProcessor` and the per-process `SETUPS` registry of
controller setups (`cotexit.controller.setup.ExitSetup`, shipped to every worker).
vLLM builds the processor once per model runner and calls, every step,
`update_state` (requests added to, removed from or moved within the batch,
each added one with its `SamplingParams` and a live reference to its output
token ids) and then, after the step's forward, `apply(logits)`: row i of the
logits is the runner's `input_batch` row i, the row `cotexit.engines.vllm.
capture` wrote the probe layers' states for. For each request that carries a
setup (`SamplingParams.extra_args["cotexit"]` = {"setup": id, "key": name}):

1. the tokens emitted since the last step are fed to the request's controller
   row (`cotexit.controller.acting`), the newest with this step's states,
   the one before with the previous step's;
2. the setup's exit policies are asked, exactly as the decode loop asks them;
3. on an exit the row is recorded cut where the policies' exit semantics
   say (`cotexit.controller.semantics`; before the cue by default) and its logits are masked to EOS, so the request ends
   on its next token. A logits processor cannot take tokens back: the engine
   (`cotexit.engines.vllm.engine`) resubmits the cut prefix plus the
   forced-exit text as token ids, which the prefix cache mostly serves.

Why this design: hooks plus a logits processor need no extra forward and no
change to vLLM; both run in the worker process, so they share `STEP`
without crossing processes. It needs eager mode and the V1 model runner (the
default on CPU; on GPU set `VLLM_USE_V2_MODEL_RUNNER=0`: Model Runner V2 has
another processor interface, which this module does not implement, and the
engine refuses it). The per-step cost is one dict lookup per request without
a cue and a states copy for the probe's layers.

Rows are kept by request key, not by batch row, so a preempted request that
comes back resumes its controller state; the engine takes `rows["setup:key"]`
when `generate()` returns (`cotexit.engines.vllm.workers.take_rows`, which
forgets it), and hands a paused row back before its request is resubmitted.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

from cotexit.controller.acting import RowStates, decide_exit, observe_token
from cotexit.controller.rows import RowState
from cotexit.controller.semantics import row_is_open
from cotexit.controller.setup import ExitSetup
from cotexit.engines.vllm.capture import STEP, StepStates

EXTRA_KEY = "cotexit"


SETUPS: dict[str, ExitSetup] = {}
LIVE: weakref.WeakSet[CotexitLogitsProcessor] = weakref.WeakSet()  # the processors of this process


@dataclass
class _Request:
    setup: ExitSetup
    row: RowState
    out: list[int]  # vLLM's live list of the request's output token ids
    stopped: bool = False
    paused: bool = False  # stopped at a cue whose trial the engine runs before resubmitting the row
    base: int = 0  # the row's tokens before this request's outputs (a resubmitted row's prompt holds them)
    before: dict[int, torch.Tensor] | None = field(default=None, repr=False)  # states one token earlier


class CotexitLogitsProcessor(LogitsProcessor):
    def __init__(self, vllm_config: Any, device: torch.device, is_pin_memory: bool, step: StepStates = STEP) -> None:
        self.step = step
        self.batch: dict[int, _Request] = {}  # input-batch row -> request
        self.rows: dict[str, _Request] = {}  # "setup:key" -> request, kept after it leaves the batch
        self._forwards = step.forwards  # the capture's forward count at the last apply
        LIVE.add(self)

    @classmethod
    def validate_params(cls, params: Any) -> None:
        spec = (params.extra_args or {}).get(EXTRA_KEY)
        if spec is None:
            return
        if not isinstance(spec, dict) or not isinstance(spec.get("key"), str) or spec.get("setup") not in SETUPS:
            raise ValueError(f"extra_args[{EXTRA_KEY!r}] must be {{'setup': a registered setup id, 'key': str}}, got {spec!r}")

    def is_argmax_invariant(self) -> bool:
        return False  # it changes what greedy decoding picks, so it runs before the argmax

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        if batch_update is None:
            return
        for index in batch_update.removed:
            self.batch.pop(index, None)
        for index, params, prompt_ids, out in batch_update.added:
            request = self._request(params, prompt_ids, out)
            if request is None:
                self.batch.pop(index, None)  # a slot reused by a request without a controller
                continue
            request.out = out
            self.batch[index] = request
        for a, b, direction in batch_update.moved:
            moved, other = self.batch.pop(a, None), self.batch.pop(b, None)
            if moved is not None:
                self.batch[b] = moved
            if direction == MoveDirectionality.SWAP and other is not None:
                self.batch[a] = other

    def _request(self, params: Any, prompt_ids: list[int] | None, out: list[int]) -> _Request | None:
        """The controller state of a request just added to the batch (kept by tag: a preempted one resumes)."""
        spec = (params.extra_args or {}).get(EXTRA_KEY)
        if spec is None:
            return None
        tag = f"{spec['setup']}:{spec['key']}"
        request = self.rows.get(tag)
        if request is None:
            setup = SETUPS[spec["setup"]]
            request = self.rows[tag] = _Request(setup, setup.new_row(spec["key"], list(prompt_ids or [])), out)
        elif request.out is not out and request.paused:  # resubmitted after its trial: continue the row
            request.base, request.stopped, request.paused, request.before = len(request.row.tokens), False, False, None
        return request

    def _step_states(self) -> dict[int, torch.Tensor]:
        """The states the hooks left in this step's forward; {} when none ran since the last `apply` (no hooks
        installed: a policy without states)."""
        fresh = self.step.forwards != self._forwards
        self._forwards = self.step.forwards
        return self.step.states if fresh else {}

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        states = self._step_states()
        for index, request in self.batch.items():
            if not request.stopped:
                self._advance(index, request, states)
            if request.stopped:
                logits[index].fill_(float("-inf"))
                logits[index, request.setup.stop_id] = 0.0
        return logits

    def _advance(self, index: int, request: _Request, states: dict[int, torch.Tensor]) -> None:
        row, setup = request.row, request.setup
        now = RowStates(states, index) if states else None
        out, base = request.out, request.base
        while len(row.tokens) - base < len(out) and not row.done:
            newest = len(row.tokens) - base == len(out) - 1
            observe_token(
                row, out[len(row.tokens) - base], now=now if newest else None,
                before=request.before if newest else None, eos_ids=setup.eos_ids,
            )
        if out:  # a prefill chunk computes no generated token's states
            request.before = now
        if setup.pause_at_cues and row_is_open(row) and row.evaluated_cues < len(row.cues):
            request.stopped = request.paused = True  # the engine runs the cue's trial, then asks the policies
        elif row.done or decide_exit(setup.policies, row, setup.forced_exit_ids) is not None:
            request.stopped = True
