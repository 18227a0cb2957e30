"""The controller inside vLLM's Model Runner V2: a logits processor of the V2 interface, over `control`.

Owns `CotexitLogitsProcessorV2` and `FedTokens`, the adapter between Model
Runner V2's processor interface (`vllm.v1.worker.gpu.sample.
logits_processor`, vLLM 0.32) and the runner-neutral controller
(`cotexit.engines.vllm.control`, which holds the logic). V2 keeps requests
in persistent slots, recycled through a free list, and calls:

- `add_request(slot, params)` when a request enters a slot: the slot's
  previous occupant is dropped here; a request whose refill holds output
  tokens already (`prefill_len > prompt_len`) is one preempted and back;
- `apply_staged_writes()` before the forward, once the runner has written the
  new requests' tokens: the new requests' controller state is opened here,
  reading a new row's prompt ids from the device-side history once;
- `apply(logits, ctx)` once per step for the whole batch, rows in this step's
  order (`ctx.idx_mapping_np`: row -> slot, on the host). The token fed at row
  i (`ctx.input_ids[i]`) is the one the request sampled last step, at
  position `ctx.pos[i]`, so it is output token `pos - prompt_len`: the
  adapter copies `input_ids` and `pos` to the host once per step and hands
  each controlled row's request a `FedTokens` view. There is no host-side
  list of output ids; an older token is read from `all_token_ids` only when
  the row fell behind (a request back from preemption whose row was
  forgotten, or a refill fed in chunks).

States: the capture model's buffer (`cotexit.engines.vllm.model_capture`),
read by logits row, which is the batch position on V2 too, at the offsets
V2 keeps on the device (`cotexit.engines.vllm.capture.v2_rows`). Model
Runner V2 needs Triton, which the CPU build lacks: this adapter is tested
against the installed V2 interface classes (request states, contexts, slot
reuse, reordered rows) and against the V1 adapter on the same token
streams, not end to end.

One logits row per request: speculative decoding (several rows per request)
is refused. vLLM's built-in thinking budget runs after `apply` and wins over
its forcing for requests whose budget is spent.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from functools import partial
from typing import Any

import torch
from vllm.v1.worker.gpu.sample.logits_processor import LogitsContext, LogitsProcessor, LogitsProcRequestState

from cotexit.controller.acting import RowStates
from cotexit.engines.vllm.capture import NO_STATES, StatesSource
from cotexit.engines.vllm.control import LIVE, Control, Request

__all__ = ["CotexitLogitsProcessorV2", "FedTokens"]


class FedTokens(Sequence[int]):
    """A request's output token ids as one V2 step shows them: `count` of them, the newest fed this step;
    older ones are read (once, the whole run asked for) by `read(start, stop)` from the device history."""

    __slots__ = ("newest", "count", "read", "_start", "_older")

    def __init__(self, newest: int, count: int, read: Callable[[int, int], list[int]]) -> None:
        self.newest = newest
        self.count = max(count, 0)  # a prompt token fed (prefill): no output yet
        self.read = read
        self._start = self.count
        self._older: list[int] = []

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> int:  # type: ignore[override]
        if i == self.count - 1:
            return self.newest
        if not 0 <= i < self.count - 1:
            raise IndexError(f"output token {i} of {self.count}")
        if i < self._start:
            self._older, self._start = self.read(i, self.count - 1), i
        return self._older[i - self._start]


class CotexitLogitsProcessorV2(LogitsProcessor):
    control_class: type[Control] = Control  # whose `validate` checks a request's arguments

    def __init__(
        self, vllm_config: Any, req_states: LogitsProcRequestState, states: StatesSource = NO_STATES,
        control: Control | None = None,
    ) -> None:
        if getattr(vllm_config, "speculative_config", None) is not None:
            raise ValueError("cotexit's processor reads one logits row per request: speculative decoding is not supported")
        self.req_states = req_states
        self.states = states
        self.control = control if control is not None else self.control_class()
        self.slots: dict[int, Request] = {}  # slot -> its request's controller state
        self._entering: dict[int, tuple[Any, bool]] = {}  # slot -> (params, fresh), opened before the forward
        LIVE.add(self)

    @property
    def rows(self) -> dict[Any, Request]:
        """The controller's requests, kept after they leave the batch."""
        return self.control.rows

    @classmethod
    def validate_params(cls, sampling_params: Any) -> None:
        cls.control_class.validate(sampling_params)

    def add_request(self, req_idx: int, sampling_params: Any) -> bool:
        self.slots.pop(req_idx, None)  # the slot's previous occupant has left
        self._entering.pop(req_idx, None)
        if not self.control.wants(sampling_params):
            return False
        fresh = int(self.req_states.prefill_len.np[req_idx]) == int(self.req_states.prompt_len.np[req_idx])
        self._entering[req_idx] = (sampling_params, fresh)
        return True

    def apply_staged_writes(self) -> None:
        for slot, (params, fresh) in self._entering.items():
            self.slots[slot] = self.control.open(params, self.identity(slot), partial(self._prompt, slot), fresh=fresh)
        self._entering.clear()

    def identity(self, slot: int) -> Hashable:
        """What keys the request in `slot` across preemption, for controls that key by request (the offline
        control keys by its tag)."""
        return slot

    def apply(self, logits: torch.Tensor, ctx: LogitsContext) -> torch.Tensor:
        slots = ctx.idx_mapping_np.tolist()
        mine = [(i, slot) for i, slot in enumerate(slots) if slot in self.slots]
        if not mine:
            return logits
        n = len(slots)
        states = self.states.take(n)
        assert logits.shape[0] == n, "one logits row per request (speculative decoding is refused)"
        fed, pos = torch.stack((ctx.input_ids[:n].long(), ctx.pos[:n].long())).tolist()  # one copy to the host
        prompt_len = self.req_states.prompt_len.np
        for i, slot in mine:
            start = int(prompt_len[slot])
            emitted = FedTokens(fed[i], pos[i] - start + 1, partial(self._outputs, slot, start))
            self.control.step(logits, i, self.slots[slot], emitted, RowStates(states, i) if states else None)
        return logits

    def _prompt(self, slot: int) -> list[int]:
        """The prompt ids of the request in `slot`, from the device-side history."""
        return self.req_states.all_token_ids.gpu[slot, : int(self.req_states.prompt_len.np[slot])].tolist()

    def _outputs(self, slot: int, prompt_len: int, first: int, stop: int) -> list[int]:
        """Output tokens `first:stop` of the request in `slot`, from the device-side history."""
        return self.req_states.all_token_ids.gpu[slot, prompt_len + first : prompt_len + stop].tolist()
