"""`calibrate`: one entry point over the four calibration modes.

Owns the checks of which level each mode takes (alpha for `cue` and
`stop-precision`, epsilon for `accuracy-drop` and `answer-change`) and the
dispatch; the statistics live in `conformal` and `ltt` (`answer_change`
runs accuracy-drop's procedure on agreement labels).

>>> from cotexit.calibration.data import CueTable
>>> t = CueTable.from_lists([[0.9]] * 60, [[True]] * 60, [True] * 60)
>>> calibrate(t, "accuracy-drop", epsilon=0.05).threshold
0.9
"""

from __future__ import annotations

import difflib

from cotexit.calibration.answer_change import calibrate_answer_change
from cotexit.calibration.conformal import calibrate_cue
from cotexit.calibration.data import CueTable
from cotexit.calibration.ltt import calibrate_accuracy_drop, calibrate_stop_precision
from cotexit.calibration.result import EPSILON_MODES, MODES, Calibration


def calibrate(
    table: CueTable,
    mode: str,
    *,
    alpha: float | None = None,
    epsilon: float | None = None,
    delta: float = 0.1,
    p_value: str = "binomial",
) -> Calibration:
    """Choose the exit threshold on `table` for `mode` (see `MODES`).

    `cue` and `stop-precision` bound a rate by `alpha`; `accuracy-drop` bounds the
    expected accuracy drop by `epsilon`, `answer-change` the rate of changed answers
    (its `table` holds agreement labels: `answer_change.answer_change_table`). The LTT
    modes hold with probability >= 1 - `delta` over the calibration draw and take
    `p_value` ("binomial" or "hoeffding-bentkus"); `cue` is a marginal (in
    expectation) bound and ignores both.
    """
    if not isinstance(table, CueTable):
        raise TypeError(f"table must be a CueTable, got {type(table).__name__}")
    if mode not in MODES:
        close = difflib.get_close_matches(str(mode), MODES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown calibration mode {mode!r}{hint}; choose one of {MODES}")
    if mode in EPSILON_MODES:
        if epsilon is None:
            what = "expected accuracy drop" if mode == "accuracy-drop" else "rate of changed answers"
            raise ValueError(f"{mode} needs epsilon, the allowed {what} (e.g. 0.05)")
        if alpha is not None:
            raise ValueError(f"{mode} takes epsilon, not alpha")
        if mode == "answer-change":
            return calibrate_answer_change(table, epsilon, delta, p_value_kind=p_value)
        return calibrate_accuracy_drop(table, epsilon, delta, p_value_kind=p_value)
    if alpha is None:
        raise ValueError(f"{mode} needs alpha, the allowed rate of wrong exits (e.g. 0.1)")
    if epsilon is not None:
        raise ValueError(f"{mode} takes alpha, not epsilon (epsilon is for accuracy-drop and answer-change)")
    if mode == "stop-precision":
        return calibrate_stop_precision(table, alpha, delta, p_value_kind=p_value)
    return calibrate_cue(table, alpha)
