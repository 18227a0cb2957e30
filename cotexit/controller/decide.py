"""Asking a row's exit policies: which cue (or step) they fire at, and where thinking is then cut.

Owns `ExitDecision` and `next_exit`, the one piece of decision logic every
engine calls. Cues are shown to the policies in order, each once; a cue is
held back while a policy needs hidden states that the engine has not
computed yet (its last token is not fed), and shown without states when they
can no longer come (probe policies pass on it). Policies that judge a cue by
a forced-answer trial get one through the engine's `trial` callback. A
score a policy wrote on the cue (`CueEvent.score`) is kept in the row's
`probe_scores`. Acting on a decision is `cotexit.controller.acting`'s and
the engine's (masking a cache, stopping a request); `RowState.exit_at`
updates the row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cotexit.controller.cues import CueEvent
from cotexit.controller.policies import ExitPolicies
from cotexit.controller.rows import RowState
from cotexit.controller.semantics import row_is_open


@dataclass(frozen=True)
class ExitDecision:
    """A policy fired: thinking is cut at generated token `cut` (dropped with everything after it)."""

    policy: str
    cut: int
    cue_index: int | None  # None for a per-step policy (a token budget)


def next_exit(
    policies: ExitPolicies,
    row: RowState,
    *,
    at_step: bool,
    trial: Callable[[CueEvent], None] | None = None,
) -> ExitDecision | None:
    """Show the row's new cues (those whose states are in) to the policies; with `at_step`, the step too.

    `at_step` is for the moment every generated token is fed, so a per-step exit cuts after the last one.
    `trial(cue)` must set `cue.trial` when some policy needs forced-answer trials.
    """
    if not policies or not row_is_open(row):
        return None
    while row.evaluated_cues < len(row.cues):
        cue = row.cues[row.evaluated_cues]
        if policies.needs_hidden and cue.hidden is None and cue.token_end >= row.fed:
            break  # its states come with the engine's next forward
        row.evaluated_cues += 1
        if policies.needs_trial and cue.trial is None:
            if trial is None:
                raise ValueError("an exit policy needs forced-answer trials but this engine gave no trial runner")
            trial(cue)
        fired = policies.first_firing(row, cue)
        if cue.score is not None:  # a probe judged it: the score stays with the row whatever is cut later
            row.probe_scores.append(cue.score)
        if fired is not None:
            return ExitDecision(fired, policies.semantics.cut_at(cue, generated=len(row.tokens)), row.evaluated_cues - 1)
    if at_step:
        fired = policies.first_firing(row, None)
        if fired is not None:
            return ExitDecision(fired, policies.semantics.cut_at(None, generated=len(row.tokens)), None)
    return None
