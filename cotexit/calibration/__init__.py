"""Calibration of the length exit: choose the probe threshold and say what it guarantees.

A probe scores every cue of a reasoning run ("the answer forced here is
right"); the controller exits at the first cue whose score is >= lambda. This
package picks lambda from calibration problems (`CueTable`) in one of four
modes (`calibrate`): `cue` (split conformal per cue, LYNX parity),
`stop-precision`, `accuracy-drop` and `answer-change` (Learn-then-Test over
runs; answer-change is accuracy-drop's procedure on labels that say whether
an answer agrees with the run thought to the end, so it needs no gold). It
knows nothing of models or probes: it sees scores and labels.

>>> from cotexit.calibration import CueTable, calibrate, evaluate
>>> table = CueTable.from_lists([[0.3, 0.95]] * 80, [[False, True]] * 80, [True] * 80)
>>> cal = calibrate(table, "accuracy-drop", epsilon=0.05, delta=0.1)
>>> cal.threshold, evaluate(cal, table)["harm_rate"]
(0.95, 0.0)
"""

from cotexit.calibration.data import CueTable
from cotexit.calibration.evaluate import evaluate
from cotexit.calibration.modes import calibrate
from cotexit.calibration.plots import risk_plot
from cotexit.calibration.result import MODES, Calibration
from cotexit.calibration.splits import split_by_problem

__all__ = ["MODES", "Calibration", "CueTable", "calibrate", "evaluate", "risk_plot", "split_by_problem"]
