"""The controller for one vLLM request, whatever the model runner: what both logits-processor adapters share.

Owns `Request` (one request's controller row and where it stands), `Control`
(the requests a processor controls, and the one step each takes),
and the registries of a
worker process: `SETUPS`, the offline engine's controller setups by id
(`SamplingParams.extra_args["cotexit"]` = {"setup": id, "key": name}), and
`LIVE`, the processors built in this process. It knows nothing of batches,
rows or slots: an adapter translates its runner's bookkeeping into three
calls.

- `Control.wants(params)`: whether a request entering the batch is controlled.
- `Control.open(params, identity, prompt, fresh=...)`: its controller state,
  new, or kept from before: a request preempted and back (`fresh` False: it
  has output tokens already), or a row the offline engine paused at a cue and
  resubmitted (a fresh request under the same tag continues the row).
- `Control.step(logits, index, request, emitted, now)`: one step of one
  request. The tokens it emitted since the last step go to its row
  (`cotexit.controller.acting.observe_token`; the newest with this step's
  states `now`, the token before with the previous step's, as a cue is
  confirmed by the character after it); the setup's policies are asked, as
  the decode loop asks them (`decide_exit`); once the request stops (an exit,
  the row's end, or a pause at a cue whose trial the engine runs) its logits
  row is masked to EOS, so it ends on its next token. A logits processor
  cannot take tokens back: the engine (`cotexit.engines.vllm.engine`)
  resubmits the cut prefix plus the forced-exit text as token ids.

`emitted` is the request's output token ids so far, any sequence; a step
reads only those past the row (normally one). The V1 adapter
(`cotexit.engines.vllm.processor`) passes vLLM's live output list; the V2
adapter (`cotexit.engines.vllm.processor_v2`) a view holding the token fed
this step, reading older ones from the device only when the row fell behind.
`now` is this step's captured states at the request's logits row
(`cotexit.engines.vllm.capture`), or None when nothing was captured. A
request that also asks for vLLM's built-in `thinking_token_budget` is
refused: the budget's forcing runs after the processor and would override
the controller's. Serving
(`cotexit.engines.vllm.serve.ServeControl`) overrides `wants`, `open` and
`step`: its own probe choice, rows keyed by request, and forcing the exit
text instead of stopping.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from cotexit.controller.acting import States, decide_exit, observe_token
from cotexit.controller.rows import RowState
from cotexit.controller.semantics import row_is_open
from cotexit.controller.setup import ExitSetup

EXTRA_KEY = "cotexit"

SETUPS: dict[str, ExitSetup] = {}
LIVE: weakref.WeakSet[Any] = weakref.WeakSet()  # the processors of this process, of either runner


@dataclass
class Request:
    """One request's controller row and where it stands."""

    setup: ExitSetup
    row: RowState
    stopped: bool = False
    paused: bool = False  # stopped at a cue whose trial the engine runs before resubmitting the row
    base: int = 0  # the row's tokens before this request's outputs (a resubmitted row's prompt holds them)
    before: States | None = field(default=None, repr=False)  # states at row token `before_at`, a step earlier
    before_at: int = -1


class Control:
    """The offline engine's requests, by tag ("setup:key"), kept after they leave the batch (the engine takes
    them, `cotexit.engines.vllm.workers.take_rows`), and the step each takes."""

    def __init__(self) -> None:
        self.rows: dict[Hashable, Request] = {}

    @classmethod
    def validate(cls, params: Any) -> None:
        spec = (params.extra_args or {}).get(EXTRA_KEY)
        if spec is None:
            return
        refuse_thinking_budget(params)
        if not isinstance(spec, dict) or not isinstance(spec.get("key"), str) or spec.get("setup") not in SETUPS:
            raise ValueError(f"extra_args[{EXTRA_KEY!r}] must be {{'setup': a registered setup id, 'key': str}}, got {spec!r}")

    def wants(self, params: Any) -> bool:
        return (params.extra_args or {}).get(EXTRA_KEY) is not None

    def open(self, params: Any, identity: Hashable, prompt: Callable[[], list[int]], *, fresh: bool) -> Request:
        """The state of a request `wants` took, entering the batch; `prompt()` gives its prompt ids when a
        new row needs them. Rows are kept by tag, so a preempted request resumes its own."""
        spec = params.extra_args[EXTRA_KEY]
        tag = f"{spec['setup']}:{spec['key']}"
        request = self.rows.get(tag)
        if request is None:
            setup = SETUPS[spec["setup"]]
            request = self.rows[tag] = Request(setup, setup.new_row(spec["key"], prompt()))
        elif fresh and request.paused:  # resubmitted after its trial: continue the row
            request.base, request.stopped, request.paused, request.before = len(request.row.tokens), False, False, None
        return request

    def step(self, logits: torch.Tensor, index: int, request: Request, emitted: Sequence[int], now: States | None) -> None:
        """Feed, decide, and mask logits row `index` to EOS once the request stopped."""
        if not request.stopped:
            advance(request, emitted, now)
        if request.stopped:
            force(logits, index, request.setup.stop_id)


def advance(request: Request, emitted: Sequence[int], now: States | None) -> None:
    """Feed the row the tokens of `emitted` past it, then pause it at a new cue (policies that judge cues by
    trials) or ask the policies; `request.stopped` is set on a pause, an exit, or the row's end."""
    row, setup = request.row, request.setup
    newest = request.base + len(emitted) - 1  # the row index of the token fed this step
    while len(row.tokens) <= newest and not row.done:
        at = len(row.tokens)
        before = request.before if at == newest and request.before_at == at - 1 else None
        observe_token(row, emitted[at - request.base], now=now if at == newest else None, before=before, eos_ids=setup.eos_ids)
    if len(emitted):  # a prefill computes no generated token's states
        request.before, request.before_at = now, newest
    if setup.pause_at_cues and row_is_open(row) and row.evaluated_cues < len(row.cues):
        request.stopped = request.paused = True  # the engine runs the cue's trial, then asks the policies
    elif row.done or decide_exit(setup.policies, row, setup.forced_exit_ids) is not None:
        request.stopped = True


def force(logits: torch.Tensor, index: int, token: int) -> None:
    """Make logits row `index` pick `token`, whatever the sampler does after (greedy or not)."""
    logits[index].fill_(float("-inf"))
    logits[index, token] = 0.0


def refuse_thinking_budget(params: Any) -> None:
    """A controlled request may not also carry vLLM's built-in thinking budget: its forcing would override the exit."""
    if getattr(params, "thinking_token_budget", None) is not None:
        raise ValueError("a request with a cotexit probe cannot also set thinking_token_budget (vLLM's cap overrides the exit)")
