"""Exit policies: small callables that decide, per row, when to stop thinking.

Owns the `ExitPolicy` protocol, `ExitPolicies` (an ordered list that records
which policy fired) and the simplest policy, a thinking-token budget. A policy
is asked once per new cue (`cue` set) and, unless it sets `per_step = False`,
once per step (`cue=None`); it returns True to close thinking there. What
happens on exit (cutting the cue, appending the forced-exit text, decoding
the answer) is the decode loop's job.
Probe-based policies live with the probes; they set `needs_hidden` so the
loop asks them only once the cue's hidden states are captured. Policies that
set `needs_trial` (DEER, answer consistency: `cotexit.baselines`) get a
forced-answer trial at each cue (`cue.trial`), whose tokens the row pays for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cotexit.controller.semantics import CUTS, ExitSemantics, check_cut, resolve_semantics

if TYPE_CHECKING:
    from cotexit.controller.cues import CueEvent
    from cotexit.controller.rows import RowState


@runtime_checkable
class ExitPolicy(Protocol):
    name: str
    needs_hidden: bool  # ask only once the cue's hidden states are captured
    # optional: per_step = False for a policy that judges cues only (it is then not asked every step)

    def __call__(self, row: RowState, cue: CueEvent | None) -> bool: ...


class ThinkingBudget:
    """Close thinking once a row has thought for `max_thinking_tokens` tokens.

    >>> ThinkingBudget(256).name
    'budget-256'
    """

    needs_hidden = False

    def __init__(self, max_thinking_tokens: int) -> None:
        if max_thinking_tokens < 1:
            raise ValueError(f"max_thinking_tokens must be >= 1, got {max_thinking_tokens}")
        self.max_thinking_tokens = max_thinking_tokens
        self.name = f"budget-{max_thinking_tokens}"

    def __call__(self, row: RowState, cue: CueEvent | None) -> bool:
        return cue is None and row.thinking_tokens >= self.max_thinking_tokens


class ExitPolicies:
    """Policies asked in order; the first that fires names the exit."""

    def __init__(self, policies: Sequence[ExitPolicy] = ()) -> None:
        for policy in policies:
            if not isinstance(policy, ExitPolicy):
                raise TypeError(f"{policy!r} is not an ExitPolicy (needs .name, .needs_hidden and __call__)")
        self.policies = tuple(policies)
        self.needs_hidden = any(p.needs_hidden for p in self.policies)
        # Some policy judges a cue by a forced-answer trial there (its tokens are counted as cost).
        self.needs_trial = any(getattr(p, "needs_trial", False) for p in self.policies)
        self._per_step = tuple(p for p in self.policies if getattr(p, "per_step", True))
        self.per_step = bool(self._per_step)  # some policy is asked at every step, not only at cues
        # Where an exit cuts: the one recorded by the probes among the policies (check_engine checks that the
        # engine can make it).
        self.semantics: ExitSemantics = resolve_semantics(getattr(p, "semantics", None) for p in self.policies)

    def __bool__(self) -> bool:
        return bool(self.policies)

    def check_engine(self, engine: str, capture_layers: Sequence[int], cuts: Sequence[str] = CUTS) -> None:
        """Refuse what `engine` cannot honour: a policy that needs states it will not capture, or a probe
        whose labels assumed a cut the engine cannot make (it makes `cuts`)."""
        if self.needs_hidden and not capture_layers:
            raise ValueError("an exit policy needs hidden states but no capture layers were given")
        check_cut(self.semantics, engine, cuts)

    def first_firing(self, row: RowState, cue: CueEvent | None) -> str | None:
        for policy in self.policies if cue is not None else self._per_step:
            if policy(row, cue):
                return policy.name
        return None
