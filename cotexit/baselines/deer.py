"""DEER: at each cue, decode a trial answer; stop when its mean token probability is high enough."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cotexit.controller.policies import ExitPolicy

if TYPE_CHECKING:
    from cotexit.controller.cues import CueEvent
    from cotexit.controller.rows import RowState


class Deer(ExitPolicy):
    """Exit at the first cue whose forced-answer trial has mean token probability >= `threshold`.

    >>> Deer(0.95).name
    'deer-0.95'
    """

    needs_trial = True
    per_step = False  # judges cues only

    def __init__(self, threshold: float) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"DEER threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.name = f"deer-{threshold:g}"

    def __call__(self, row: RowState, cue: CueEvent | None) -> bool:
        return cue is not None and cue.trial is not None and cue.trial.mean_prob >= self.threshold
