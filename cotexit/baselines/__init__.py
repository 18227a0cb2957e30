"""Baseline exit policies for fair comparisons with the probe: DEER, answer consistency, a token budget.

Each is an `ExitPolicy` (see `cotexit.controller.policies`). DEER and answer
consistency decode a forced-answer trial at every cue (`needs_trial`); the
decode loop runs it and charges its tokens to the row, as those methods pay
them at inference. `parse_baseline("deer:0.95")` builds one from the CLI form.
"""

from __future__ import annotations

from cotexit.baselines.consistency import AnswerConsistency
from cotexit.baselines.deer import Deer
from cotexit.controller.policies import ExitPolicy, ThinkingBudget

__all__ = ["AnswerConsistency", "Deer", "ThinkingBudget", "parse_baseline"]

_KINDS = {"deer": (Deer, float), "consistency": (AnswerConsistency, int), "budget": (ThinkingBudget, int)}


def parse_baseline(spec: str) -> ExitPolicy:
    """`deer:THRESHOLD`, `consistency:K` or `budget:TOKENS`."""
    kind, _, value = spec.partition(":")
    if kind not in _KINDS or not value:
        raise ValueError(f"baseline must be one of deer:P, consistency:K, budget:N; got {spec!r}")
    cls, cast = _KINDS[kind]
    try:
        return cls(cast(value))
    except ValueError as exc:
        raise ValueError(f"bad baseline {spec!r}: {exc}") from None
