"""Answer consistency (as Dynasor-CoT): stop when the last k forced-answer trials agree."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cotexit.benchmarks.extraction import last_boxed
from cotexit.benchmarks.grading import is_equivalent
from cotexit.controller.policies import ExitPolicy

if TYPE_CHECKING:
    from cotexit.controller.cues import CueEvent
    from cotexit.controller.rows import RowState


def trial_answer(cue: CueEvent) -> str | None:
    return last_boxed("\\boxed{" + cue.trial.text) if cue.trial is not None else None


class AnswerConsistency(ExitPolicy):
    """Exit at a cue when the trial answers at the last `k` cues are all equal (and not empty).

    >>> AnswerConsistency(3).name
    'consistency-3'
    """

    needs_trial = True
    per_step = False  # judges cues only

    def __init__(self, k: int) -> None:
        if k < 2:
            raise ValueError(f"consistency needs k >= 2 agreeing answers, got {k}")
        self.k = k
        self.name = f"consistency-{k}"

    def __call__(self, row: RowState, cue: CueEvent | None) -> bool:
        if cue is None:
            return False
        answers = [trial_answer(c) for c in row.cues[: row.cues.index(cue) + 1][-self.k :]]
        if len(answers) < self.k or answers[0] is None:
            return False
        return all(a is not None and is_equivalent(answers[0], a) for a in answers[1:])
