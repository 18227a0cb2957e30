"""Forced-answer trials: what a row would answer if thinking were closed at some prefix.

Owns `ForcedRequest`, `ForcedAnswer` and `TRIAL_TOKENS`, the types every
engine's trials speak (the decode loop branches its cache, `generate()` and
vLLM decode from token-id prefixes), and `ForcedAnswer.take`, their one stop
rule. Who asks for trials: `collect` (labels at every cue) and policies that
judge a cue by its trial (`ExitPolicy.needs_trial`); what a row pays for
them is `cotexit.controller.acting.charge_trials`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cotexit.controller.semantics import answer_closed

TRIAL_TOKENS = 24  # answer tokens a forced-answer trial decodes at most, on every engine


@dataclass(frozen=True)
class ForcedRequest:
    row: int  # the row's index in the engine's batch (prompt order)
    prefix: int  # keep generated tokens [0, prefix); the forced-exit text follows


@dataclass
class ForcedAnswer:
    request: ForcedRequest
    text: str  # decoded after the forced-exit text, e.g. "42}."
    token_ids: list[int]
    token_probs: list[float]  # probability of each greedy token (DEER's confidence is their mean)

    @property
    def mean_prob(self) -> float:
        return sum(self.token_probs) / len(self.token_probs) if self.token_probs else 0.0

    @property
    def cost_tokens(self) -> int:
        """Tokens this trial decoded (forced text excluded)."""
        return len(self.token_ids)

    def take(self, token: int, prob: float, text: Any, eos_ids: set[int], closes_brace: bool) -> bool:
        """Add the next greedy token (with `text`, this answer's `IncrementalDetokenizer`); False once the answer
        has ended: at EOS (not kept) or when the brace the forced text opened is closed."""
        if token in eos_ids:
            return False
        self.token_ids.append(token)
        self.token_probs.append(prob)
        self.text += text.push(token)
        return not (closes_brace and answer_closed(self.text))

    @classmethod
    def from_greedy(
        cls, request: ForcedRequest, tokens: Iterable[tuple[int, float]], text: Any, eos_ids: set[int], closes_brace: bool
    ) -> ForcedAnswer:
        """The answer an engine's greedy (token, probability) stream gives, cut by `take`'s stop rule."""
        answer = cls(request, "", [], [])
        for token, prob in tokens:
            if not answer.take(int(token), prob, text, eos_ids, closes_brace):
                break
        return answer
