"""The decode loop: batched generation over a transformers KV cache, one step at a time.

Owns `DecodeConfig`, `Decoder` and `DecodeSession`. A session left-pads its
prompts into one batch, runs the prompt through the model once, then steps:
one forward for every running row, a token per row (sampled, or taken from a
queued forced text), cue watching, hidden-state capture from that same
forward, exit policies, per-row stopping. Finished rows leave the batch
(their cache rows are dropped). `DecodeSession.steps()` is a generator that
yields after every step, so callers can watch, run forced-answer trials
(`cotexit.engines.loop.forced`) or stop early.

Cutting a row's thinking at a cue does not crop the shared cache: the cut
tokens' columns are masked out for that row and its positions rewind, which
is exactly equivalent for rotary-position models. The loop knows nothing about
benchmarks, grading or probes.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache

from cotexit.controller.acting import charge_trials, next_token, trial_request
from cotexit.controller.capture import CaptureConfig
from cotexit.controller.cues import CueConfig, CueEvent
from cotexit.controller.decide import next_exit
from cotexit.controller.policies import ExitPolicies, ExitPolicy
from cotexit.controller.rows import ExitInfo, RowResult, RowState
from cotexit.controller.setup import ExitSetup
from cotexit.engines.batching import left_pad
from cotexit.engines.decoding import DecodeConfig
from cotexit.engines.loop.forced import forced_answers
from cotexit.engines.loop.sampling import sample_next
from cotexit.engines.loop.step import StepForward, StepOutput, full_forward, select_rows
from cotexit.engines.tap import tapped
from cotexit.models.thinking import ThinkingFormat

log = logging.getLogger(__name__)


@dataclass
class StepEvent:
    """What one step did: the rows that got a token, the cues and exits it produced, the rows that finished."""

    step: int
    active: list[int]
    cues: list[tuple[int, CueEvent]]
    exits: list[tuple[int, ExitInfo]]
    finished: list[int]


class LoopRow(RowState):
    """A row of the decode loop: the controller's state plus the cache column of each fed token."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cols: list[int] = []


class Decoder:
    """Runs prompts through a model with cue watching, capture and exit policies.

    >>> # decoder = Decoder(model, tokenizer, get_format("toy"))
    >>> # results = decoder.generate(["<prompt text>"], keys=["p0"])
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        fmt: ThinkingFormat,
        config: DecodeConfig | None = None,
        *,
        cues: CueConfig | None = None,
        capture: CaptureConfig | None = None,
        policies: Sequence[ExitPolicy] = (),
        step_forward: StepForward = full_forward,
        watch_cues: bool = True,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.fmt = fmt
        self.config = config or DecodeConfig()
        self.policies = ExitPolicies(policies)
        # The policies' own cues (a probe's) unless `cues` overrides them; the ids every engine reads alike.
        self.setup = ExitSetup.for_model(
            model, tokenizer, fmt, policies=self.policies, cues=cues, max_answer_tokens=self.config.max_answer_tokens
        )
        self.cues = self.setup.cues
        self.capture = capture or self.policies.capture
        self.step_forward = step_forward
        self.watch_cues = watch_cues  # False only to measure what cue watching costs
        self.num_layers = int(model.config.get_text_config().num_hidden_layers)
        self.capture_layers = self.capture.resolve(self.num_layers)
        self.policies.check_engine("hf", self.capture_layers)
        self.eos_ids = self.setup.eos_ids
        self.pad_id = self.setup.pad_id
        self.forced_exit_ids = self.setup.forced_exit_ids
        self.limits = self.setup.limits(self.config.max_new_tokens)

    def encode(self, text: str) -> list[int]:
        return self.setup.encode(text)

    def session(self, prompts: Sequence[str], keys: Sequence[str] | None = None) -> DecodeSession:
        """A batch ready to step; `prompts` are full prompt texts (chat template already applied)."""
        if not prompts:
            raise ValueError("prompts must not be empty")
        keys = list(keys) if keys is not None else [str(i) for i in range(len(prompts))]
        if len(keys) != len(prompts):
            raise ValueError(f"got {len(prompts)} prompts but {len(keys)} keys")
        return DecodeSession(self, [self.encode(p) for p in prompts], keys)

    def generate(self, prompts: Sequence[str], keys: Sequence[str] | None = None) -> list[RowResult]:
        session = self.session(prompts, keys)
        for _ in session.steps():
            pass
        return session.results()


class DecodeSession:
    """One batch in flight. Rows are indexed 0..B-1 in prompt order; `batch` maps active slots to rows."""

    def __init__(self, decoder: Decoder, prompt_ids: list[list[int]], keys: list[str]) -> None:
        if any(len(p) == 0 for p in prompt_ids):
            raise ValueError("every prompt must encode to at least one token")
        self.d = decoder
        self.device = next(decoder.model.parameters()).device
        cfg = decoder.config
        self.rows = [
            LoopRow(k, p, decoder.tokenizer, decoder.fmt, decoder.cues, watch=decoder.watch_cues)
            for k, p in zip(keys, prompt_ids)
        ]
        self.generators = [cfg.sampling.row_generator(k) for k in keys] if not cfg.sampling.greedy else None
        ids, mask = left_pad(prompt_ids, decoder.pad_id)
        self.batch = list(range(len(prompt_ids)))  # active slot -> row index
        self.mask = mask.to(self.device)  # (B, C) one column per cache position
        self.next_pos = torch.tensor([len(p) for p in prompt_ids], device=self.device)  # (B,)
        self.cache = DynamicCache(config=decoder.model.config)
        self.step_index = 0
        self._hidden: dict[int, torch.Tensor] | None = None  # the last forward's captured {layer: (B, H)}
        self._waiting: set[int] = set()  # rows with a cue whose last token the next forward feeds
        # The default step reads the capture layers through hooks installed once for the whole session.
        self._closing = ExitStack()
        weakref.finalize(self, self._closing.close)  # a session dropped half-way still takes its hooks off
        if decoder.capture_layers and decoder.step_forward is full_forward:
            self._closing.enter_context(tapped(decoder.model, decoder.capture_layers))
        positions = (self.mask.cumsum(-1) - 1).clamp(min=0)  # (B, T)
        try:
            self._last = self._forward(ids.to(self.device), positions)
        except BaseException:
            self.close()
            raise

    # --- the loop ----------------------------------------------------------
    def steps(self) -> Iterator[StepEvent]:
        try:
            while self.batch:
                yield self._step()
        finally:
            self.close()

    def close(self) -> None:
        """Take off the session's hooks; `steps()` does this when it ends or is closed."""
        self._closing.close()

    def results(self) -> list[RowResult]:
        if self.batch:
            raise RuntimeError("results() called before every row finished; iterate steps() to the end first")
        return [row.result() for row in self.rows]

    @property
    def active_rows(self) -> list[LoopRow]:
        return [self.rows[r] for r in self.batch]

    def _forward(self, input_ids: torch.Tensor, positions: torch.Tensor) -> StepOutput:
        return self.d.step_forward(self.d.model, input_ids, self.mask, positions, self.cache, self.d.capture_layers)

    def _step(self) -> StepEvent:
        cfg, step = self.d.config, self.step_index
        out = self._last
        event = StepEvent(step=step, active=list(self.batch), cues=[], exits=[], finished=[])
        self._record_hidden(out)
        sampled = sample_next(out.logits, cfg.sampling, self._active_generators())  # (B,)
        per_step = self.d.policies.per_step
        for slot, r in enumerate(self.batch):
            row = self.rows[r]
            # Cues whose states came with this forward, and per-step policies: every token so far is fed.
            if per_step or row.evaluated_cues < len(row.cues):  # (most steps of most rows have neither)
                self._evaluate(slot, row, event, cut_now=True)
            token, from_forced = next_token(row, int(sampled[slot]), lambda: int(out.logits[slot].argmax()))
            if from_forced:
                row.forced.pop(0)
            found = row.append(token, step)
            if found:
                event.cues.extend((r, cue) for cue in found)
                self._attach_states(slot, r, row)
            if found and self._evaluate(slot, row, event, cut_now=False) and len(row.tokens) == row.fed:
                # The exit cut the token just appended (at a cue before it): this step feeds the forced text
                # instead. A cut that keeps it (keep-cue semantics) feeds it and the forced text after.
                from_forced = True
                token = row.forced.pop(0)
                row.append(token, step)
            self._check_finish(row, token, from_forced)
            if row.done:
                event.finished.append(r)
        self.step_index += 1
        self._drop_finished()
        if self.batch:
            col = self.mask.shape[1]
            new_tokens = torch.tensor([[self.rows[r].tokens[-1]] for r in self.batch], device=self.device)  # (B, 1)
            positions = self.next_pos.unsqueeze(1)  # (B, 1)
            for r in self.batch:
                row = self.rows[r]
                row.cols.append(col)
                row.fed = len(row.tokens)
            self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)  # (B, C+1)
            self.next_pos = self.next_pos + 1
            self._last = self._forward(new_tokens, positions)
        return event

    # --- pieces ------------------------------------------------------------
    def _active_generators(self) -> list[torch.Generator] | None:
        return None if self.generators is None else [self.generators[r] for r in self.batch]

    def _record_hidden(self, out: StepOutput) -> None:
        """Keep the states the last forward captured (at the token each row fed) for the cues that need them.

        They are copied out per row only where they are kept: at a cue's last token, or, with
        `where="all"`, at every token. Rows without a cue cost nothing here.
        """
        self._hidden = out.hidden
        if out.hidden is None:
            return
        if self.d.capture.where == "all":
            for slot, r in enumerate(self.batch):
                row = self.rows[r]
                if row.fed > 0:  # fed == 0: the prompt's last token, not a generated position
                    row.captured[row.fed - 1] = _row_states(out.hidden, slot)
        if self._waiting:
            for slot, r in enumerate(self.batch):
                if r in self._waiting:
                    self._attach_states(slot, r, self.rows[r])
            self._waiting.clear()

    def _attach_states(self, slot: int, r: int, row: LoopRow) -> None:
        """Give the row's cues ending at its newest fed token the states captured there; wait for newer ones.

        A cue is confirmed by the character after it, so it ends at the newest fed token (its states are in)
        or at the token just appended (they come with the next forward).
        """
        if self._hidden is None:
            return
        index = row.fed - 1
        for cue in reversed(row.cues):
            if cue.hidden is not None or cue.token_end < index:
                break
            if cue.token_end == index:
                cue.hidden = row.captured.get(index) or _row_states(self._hidden, slot)
            else:
                self._waiting.add(r)

    def _evaluate(self, slot: int, row: LoopRow, event: StepEvent, *, cut_now: bool) -> bool:
        """Ask the controller about the row's new cues and, with `cut_now`, about this step; True on an exit.

        Per-step policies are asked only at the start of a step, when every token is fed.
        """
        decision = next_exit(self.d.policies, row, at_step=cut_now, trial=lambda cue: self._trial(slot, row, cue))
        if decision is None:
            return False
        self._exit(slot, row, decision.policy, cut=decision.cut, cue_index=decision.cue_index, event=event)
        return True

    def _trial(self, slot: int, row: LoopRow, cue: CueEvent) -> None:
        """A forced-answer trial from where an exit at `cue` would cut, for policies that judge by it (DEER, consistency)."""
        answer = forced_answers(self, [trial_request(self.d.policies, self.batch[slot], row, cue)])[0]
        cue.trial = answer
        charge_trials(row, [answer], self.d.forced_exit_ids)

    def _exit(self, slot: int, row: LoopRow, policy: str, cut: int, cue_index: int | None, event: StepEvent) -> None:
        """Close thinking at generated token `cut`: mask out fed tokens from there, rewind, queue the forced exit."""
        for index in range(cut, row.fed):
            self.mask[slot, row.cols[index]] = 0
        del row.cols[cut:]
        self.next_pos[slot] = len(row.prompt_ids) + min(cut, row.fed)  # a kept token not yet fed is fed next
        info = row.exit_at(policy, cut, self.step_index, cue_index, self.d.forced_exit_ids)
        event.exits.append((self.batch[slot], info))

    def _check_finish(self, row: LoopRow, token: int, from_forced: bool) -> None:
        limits = self.d.limits
        row.finish_after(
            token, from_forced=from_forced, eos_ids=self.d.eos_ids, max_new_tokens=limits.max_new_tokens,
            answer_limit=limits.answer_limit,
        )

    def _drop_finished(self) -> None:
        keep = [slot for slot, r in enumerate(self.batch) if not self.rows[r].done]
        if len(keep) == len(self.batch):
            return
        self.batch = [self.batch[slot] for slot in keep]
        if not keep:
            return
        index = torch.tensor(keep, device=self.device)
        select_rows(self.d.step_forward, self.cache, index)
        self.mask = self.mask[index]
        self.next_pos = self.next_pos[index]


def _row_states(hidden: dict[int, torch.Tensor], slot: int) -> dict[int, torch.Tensor]:
    """{layer: (H,)} float32 on the CPU: one row of a step's captured {layer: (B, H)}."""
    return {layer: states[slot].float().cpu() for layer, states in hidden.items()}
