"""One row's controller state and the result a finished row turns into.

Owns `RowState` (tokens, text, thinking phase, cues, captured states, exit)
and `RowResult`. The state tracks where thinking starts and ends from the
row's text and its `ThinkingFormat`; it knows nothing about caches, batches
or requests, which belong to the engines. Every engine appends the tokens it
produces (`append`), says how many of them its model has computed states for
(`fed`), and on an exit calls `exit_at`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from cotexit.controller.cues import CueConfig, CueEvent, CueWatcher
from cotexit.controller.detokenize import IncrementalDetokenizer
from cotexit.controller.semantics import answer_closed
from cotexit.models.thinking import ThinkingFormat

Phase = Literal["before", "thinking", "answer"]
FinishReason = Literal["eos", "length", "answer"]

PLAIN_ANSWER_MARKER = "\\boxed"


@dataclass(frozen=True)
class ExitInfo:
    """Where and why a row stopped thinking early: `cut` is the first generated token dropped."""

    policy: str
    cut: int
    step: int
    cue_index: int | None


@dataclass
class RowResult:
    """One finished row: what it wrote, how long it thought, where its cues were."""

    key: str
    text: str
    token_ids: list[int]
    prompt_tokens: int
    thinking_tokens: int
    finish_reason: FinishReason
    cues: list[CueEvent]
    exit: ExitInfo | None
    thinking_text: str
    answer_text: str
    captured: dict[int, dict[int, torch.Tensor]] = field(default_factory=dict, repr=False)
    trial_tokens: int = 0  # forced-answer trials run by exit policies (DEER, consistency): a real cost
    probe_scores: list[float] = field(default_factory=list)  # a probe's score at each cue it judged, in order

    @property
    def total_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def cues_seen(self) -> int:
        """Cues the run met, the exit's own included: a before-cue cut drops that cue from `text` and `cues`."""
        at_exit = self.exit.cue_index + 1 if self.exit is not None and self.exit.cue_index is not None else 0
        return max(len(self.cues), at_exit)


class RowState:
    """Everything the decode loop knows about one row while it runs."""

    def __init__(
        self, key: str, prompt_ids: list[int], tokenizer: Any, fmt: ThinkingFormat, cues: CueConfig, watch: bool = True
    ) -> None:
        self.key = key
        self.prompt_ids = prompt_ids
        self.fmt = fmt
        self.tokens: list[int] = []
        self.detok = IncrementalDetokenizer(tokenizer)
        self.watcher = CueWatcher(cues, enabled=False)
        self.watch = watch
        self.phase: Phase = "before"
        self.think_start_char = 0
        self.think_end_char: int | None = None
        self.forced: list[int] = []  # tokens to feed instead of sampling (the forced-exit text)
        self.forced_char: int | None = None  # where the forced-exit text starts in `text`
        self.answer_char: int | None = None  # where the answer after the forced-exit text starts in `text`
        self.answer_tokens = 0
        self.exit: ExitInfo | None = None
        self.finish_reason: FinishReason | None = None
        self.fed = 0  # tokens[:fed] went through the engine's forward (their states were computable)
        self.evaluated_cues = 0  # cues already shown to the exit policies
        self.trial_tokens = 0  # tokens spent on forced-answer trials that policies asked for
        self.probe_scores: list[float] = []  # scores policies wrote on the cues they judged (`CueEvent.score`)
        self.captured: dict[int, dict[int, torch.Tensor]] = {}
        if not fmt.has_tags or fmt.prompt_opens_thinking:
            self._start_thinking(0)

    # --- views -------------------------------------------------------------
    @property
    def text(self) -> str:
        return self.watcher.text

    @property
    def cues(self) -> list[CueEvent]:
        return self.watcher.events

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    @property
    def thinking_tokens(self) -> int:
        if self.phase == "before":
            return 0
        start = self._token_at(self.think_start_char)
        if self.think_end_char is None:
            return len(self.tokens) - start
        return self._token_at(self.think_end_char) - start

    @property
    def thinking_start_token(self) -> int:
        """Index of the first generated token of thinking (len(tokens) while it has not begun)."""
        return self._token_at(self.think_start_char) if self.phase != "before" else len(self.tokens)

    def _token_at(self, char: int) -> int:
        """Index of the token that produced character `char` (len(tokens) past the end)."""
        chars = self.watcher.char_token
        return chars[char] if char < len(chars) else len(self.tokens)

    # --- updates -----------------------------------------------------------
    def append(self, token: int, step: int) -> list[CueEvent]:
        """Add a generated token; returns the cues it confirmed."""
        self.tokens.append(int(token))
        delta = self.detok.push(token)
        found = self.watcher.feed(delta, len(self.tokens) - 1, step=step)
        self._update_phase()
        if self.think_end_char is not None:
            found = [c for c in found if c.char_start < self.think_end_char]
        if self.forced_char is not None:
            self.answer_tokens += 1
            if not self.forced and self.answer_char is None:  # that was the forced text's last token
                self.answer_char = len(self.text)
        return found

    def truncate(self, length: int) -> None:
        """Drop generated tokens from index `length` on (text, cues and captures with them)."""
        cut_char = self.watcher.truncate(length)
        self.tokens = self.tokens[:length]
        self.detok.truncate(length)
        self.evaluated_cues = min(self.evaluated_cues, len(self.watcher.events))
        self.captured = {i: h for i, h in self.captured.items() if i < length}
        if self.think_end_char is not None and self.think_end_char >= cut_char:
            self.think_end_char = None
            self.phase = "thinking"

    def begin_forced_exit(self, forced_ids: list[int]) -> None:
        """Queue the forced-exit text; thinking ends where it starts."""
        self.forced = list(forced_ids)
        self.think_end_char = self.forced_char = len(self.text)
        self.answer_char = None
        self.phase = "answer"
        self.watcher.enabled = False
        self.answer_tokens = 0

    def exit_at(self, policy: str, cut: int, step: int, cue_index: int | None, forced_ids: list[int]) -> ExitInfo:
        """Record an exit: drop generated tokens from `cut` on and queue the forced-exit text."""
        self.exit = ExitInfo(policy=policy, cut=cut, step=step, cue_index=cue_index)
        self.fed = min(self.fed, cut)
        self.truncate(cut)
        self.begin_forced_exit(forced_ids)
        return self.exit

    def forced_answer_closed(self) -> bool:
        """True once the brace opened by a forced exit ending in "{" is closed (the exit semantics' answer rule)."""
        if self.answer_char is None or self.forced or not self.fmt.forced_exit.endswith("{"):
            return False
        return answer_closed(self.text[self.answer_char :])

    def finish(self, reason: FinishReason) -> None:
        self.finish_reason = reason

    def finish_after(
        self, token: int, *, from_forced: bool, eos_ids: set[int], max_new_tokens: int, answer_limit: int
    ) -> None:
        """Finish the row if the token just appended ends it: EOS (not one of a forced text), the forced
        answer's brace closed, `answer_limit` tokens since a forced exit began, or `max_new_tokens` generated.
        """
        if not from_forced and token in eos_ids:
            self.finish("eos")
        elif self.forced_answer_closed():
            self.finish("answer")
        elif self.forced_char is not None and self.answer_tokens >= answer_limit:
            self.finish("length")
        elif len(self.tokens) >= max_new_tokens and not self.forced:
            self.finish("length")

    def _start_thinking(self, char: int) -> None:
        self.phase = "thinking"
        self.think_start_char = char
        if self.watch:
            self.watcher.enable()

    def _update_phase(self) -> None:
        text = self.watcher.text
        if self.phase == "before":
            at = text.find(self.fmt.think_start)
            if at >= 0:
                self._start_thinking(at + len(self.fmt.think_start))
        if self.phase == "thinking" and not self.forced:
            marker = self.fmt.think_end if self.fmt.has_tags else PLAIN_ANSWER_MARKER
            at = text.find(marker, self.think_start_char)
            if at >= 0:
                self.think_end_char = at
                self.phase = "answer"
                self.watcher.enabled = False
                self.watcher.events[:] = [c for c in self.watcher.events if c.char_start < at]

    def result(self) -> RowResult:
        assert self.finish_reason is not None, "result() of a row that is still running"
        text = self.text
        if self.finish_reason == "eos":  # the EOS token counts as generated, its text ("<|im_end|>") is not kept
            chars = self.watcher.char_token
            text = text[: next((i for i, t in enumerate(chars) if t == len(self.tokens) - 1), len(text))]
        end = min(self.think_end_char if self.think_end_char is not None else len(text), len(text))
        return RowResult(
            key=self.key,
            text=text,
            token_ids=list(self.tokens),
            prompt_tokens=len(self.prompt_ids),
            thinking_tokens=self.thinking_tokens,
            finish_reason=self.finish_reason,
            cues=list(self.cues),
            exit=self.exit,
            thinking_text=text[self.think_start_char : end],
            answer_text=text[end:],
            captured=self.captured,
            trial_tokens=self.trial_tokens,
            probe_scores=list(self.probe_scores),
        )
