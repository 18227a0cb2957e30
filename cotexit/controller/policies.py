"""Exit policies: small callables that decide, per row, when to stop thinking.

Owns the `ExitPolicy` base class (the protocol every engine relies on, with
defaults for its optional parts), `ExitPolicies` (an ordered list that
records which policy fired and resolves what the policies need from an
engine) and the simplest policy, a thinking-token budget. A policy is asked
once per new cue (`cue` set) and, unless it sets `per_step = False`, once per
step (`cue=None`); it returns True to close thinking there. What happens on
exit (cutting the cue, appending the forced-exit text, decoding the answer)
is `cotexit.controller.acting`'s.

What a policy may declare, all optional:

- `needs_hidden`: ask only once the cue's hidden states are captured, from
  the layers `capture()` names;
- `needs_trial`: judge each cue by a forced-answer trial there (`cue.trial`,
  whose tokens the row pays for: DEER, answer consistency);
- `semantics`: the exit semantics its labels assumed (a probe's card);
- `cues`: the cue set it was calibrated on (a probe's card); engines watch
  these cues unless told otherwise.

A policy that scores cues (a probe) writes the score on the cue
(`cue.score`), so it travels with the row on every engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from cotexit.controller.capture import CaptureConfig
from cotexit.controller.cues import CueConfig
from cotexit.controller.semantics import CUTS, ExitSemantics, check_cut, resolve_semantics

if TYPE_CHECKING:
    from cotexit.controller.cues import CueEvent
    from cotexit.controller.rows import RowState


class ExitPolicy:
    """Base class of exit policies: override `__call__`; the class attributes are the defaults.

    >>> class Never(ExitPolicy):
    ...     name = "never"
    ...     def __call__(self, row, cue):
    ...         return False
    >>> Never().per_step, Never().capture()
    (True, None)
    """

    name: str = "policy"
    needs_hidden: bool = False  # ask only once the cue's hidden states are captured
    needs_trial: bool = False  # judge each cue by a forced-answer trial (`cue.trial`)
    per_step: bool = True  # also asked at every step (False: cues only)
    semantics: dict[str, Any] | None = None  # exit semantics its labels assumed (None: no labels)
    cues: CueConfig | None = None  # the cue set it was calibrated on (None: any)

    def capture(self) -> CaptureConfig | None:
        """The hidden states this policy reads (None: none)."""
        return None

    def __call__(self, row: RowState, cue: CueEvent | None) -> bool:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(row, cue) -> bool")


class ThinkingBudget(ExitPolicy):
    """Close thinking once a row has thought for `max_thinking_tokens` tokens.

    >>> ThinkingBudget(256).name
    'budget-256'
    """

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
                raise TypeError(f"{policy!r} is not an ExitPolicy (subclass cotexit.controller.ExitPolicy)")
        self.policies = tuple(policies)
        self.needs_hidden = any(p.needs_hidden for p in self.policies)
        self.needs_trial = any(p.needs_trial for p in self.policies)  # trial tokens are counted as cost
        self._per_step = tuple(p for p in self.policies if p.per_step)
        self.per_step = bool(self._per_step)  # some policy is asked at every step, not only at cues
        # Where an exit cuts: the one recorded by the probes among the policies (check_engine checks that the
        # engine can make it).
        self.semantics: ExitSemantics = resolve_semantics(p.semantics for p in self.policies)
        self.calibrated_cues: CueConfig | None = _agreed_cues(p.cues for p in self.policies)
        self.capture: CaptureConfig = _union_capture(p.capture() for p in self.policies)

    def __bool__(self) -> bool:
        return bool(self.policies)

    def cue_config(self, override: CueConfig | None = None) -> CueConfig:
        """The cues to watch: `override` when given, else the ones the policies were calibrated on, else the
        defaults. A probe's guarantee covers only its own cues; whoever overrides them says so (the CLI warns)."""
        return override or self.calibrated_cues or CueConfig()

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


def _agreed_cues(recorded: Iterable[CueConfig | None]) -> CueConfig | None:
    found = {c for c in recorded if c is not None}
    if len(found) > 1:
        raise ValueError(f"exit policies calibrated on different cue sets: {sorted(str(c.phrases) for c in found)}")
    return found.pop() if found else None


def _union_capture(captures: Iterable[CaptureConfig | None]) -> CaptureConfig:
    layers: list[int] = []
    where = "cues"
    for capture in captures:
        if capture is None:
            continue
        layers += [layer for layer in capture.layers if layer not in layers]
        where = "all" if capture.where == "all" else where
    return CaptureConfig(layers=tuple(layers), where=where)
