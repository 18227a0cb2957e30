"""The `cue` mode (LYNX parity): label-conditional split conformal on cue-level scores.

Owns `calibrate_cue`. The probe score s of a cue is read as a two-class
predictor [P(wrong), P(right)] = [1 - s, s] and LAC sets are built per label
(Mondrian): the label "wrong" stays in a cue's set while s <= q_wrong, the
ceil((n_wrong + 1)(1 - alpha))-th smallest score of the calibration cues whose
forced answer is wrong; "right" stays while 1 - s <= q_right, the same
quantile of 1 - s over right cues. The controller exits when the set is
{right}, i.e. at s > q_wrong and s >= 1 - q_right, which is one threshold on s.
This is the closed form of MAPIE's `SplitConformalClassifier` (LAC, prefit)
conformalized on each label's cues; the tests check the two agree.
"""

from __future__ import annotations

import math

import numpy as np

from cotexit.calibration.data import NEVER, CueTable
from cotexit.calibration.digits import round_up
from cotexit.calibration.result import Calibration, thin_curve
from cotexit.calibration.shortfall import TooFewSamples


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")


def _rank(n: int, alpha: float) -> int:
    return math.ceil((n + 1) * (1 - alpha))  # same float arithmetic as MAPIE's quantile


def min_conformal_samples(alpha: float) -> int:
    """Smallest n for which the conformal quantile at level alpha is finite."""
    _check_alpha(alpha)
    n = max(1, math.floor((1 - alpha) / alpha) - 1)
    while _rank(n, alpha) > n:
        n += 1
    return n


def _looser_alpha(n_wrong: int) -> str:
    """The smallest alpha that `n_wrong` wrong cues pass the check at, as a phrase ("" when none is below 1)."""
    if n_wrong == 0:
        return ""
    alpha = round_up(1.0 / (n_wrong + 1))  # the rank ceil((n + 1)(1 - alpha)) reaches n from here
    while alpha < 1.0 and min_conformal_samples(alpha) > n_wrong:  # float edges
        alpha = round_up(alpha * 1.001)
    return f"alpha >= {alpha:g}" if alpha < 1.0 else ""


def conformal_quantile(values: np.ndarray, alpha: float) -> float:
    """The ceil((n + 1)(1 - alpha))-th smallest value; +inf when that rank exceeds n."""
    _check_alpha(alpha)
    values = np.asarray(values, dtype=np.float64).ravel()
    k = _rank(values.size, alpha)
    if k > values.size:
        return math.inf
    return float(np.partition(values, k - 1)[k - 1])


def calibrate_cue(table: CueTable, alpha: float) -> Calibration:
    """Per-cue threshold with P(exit at a cue | its forced answer is wrong) <= alpha, marginally.

    Raises ValueError when the table has too few wrong cues for any finite quantile.
    """
    _check_alpha(alpha)
    wrong = table.scores[~table.forced_correct]  # (n_wrong,)
    right = table.scores[table.forced_correct]  # (n_right,)
    need = min_conformal_samples(alpha)
    if wrong.size < need:
        raise TooFewSamples(
            f"cue mode with alpha={alpha} needs at least {need} calibration cues whose forced answer is "
            f"wrong; the table has {wrong.size} (from {table.n_problems} problems)",
            need=need, got=int(wrong.size), unit="calibration cues whose forced answer is wrong",
            looser=_looser_alpha(int(wrong.size)),
        )
    q_wrong = conformal_quantile(wrong, alpha)
    q_right = conformal_quantile(1.0 - right, alpha)
    exclude_wrong = float(np.nextafter(q_wrong, math.inf))  # "wrong" leaves the set at s > q_wrong
    include_right = 1.0 - q_right if math.isfinite(q_right) else 0.0
    threshold: float | None = max(exclude_wrong, include_right)
    if threshold > 1.0:
        threshold = None

    grid = np.unique(np.concatenate([table.scores, [NEVER, exclude_wrong, include_right]]))[::-1]  # (G,) desc
    grid = grid[(grid >= 0.0) & (grid <= NEVER)]
    at_or_above = wrong.size - np.searchsorted(np.sort(wrong), grid, side="left")  # (G,)
    p_values = (1.0 + at_or_above) / (wrong.size + 1.0)
    certified = grid >= (threshold if threshold is not None else NEVER)
    chosen = None if threshold is None else int(np.flatnonzero(grid == threshold)[0])
    keep = thin_curve(grid.size, chosen)
    guarantee = (
        f"Per cue, marginally over the calibration draw and a new cue exchangeable with the "
        f"{wrong.size} calibration cues whose forced answer is wrong: P(the controller exits at the cue | "
        f"the answer forced there is wrong) <= {alpha}. This bounds single cues, not runs: a run meets "
        f"several cues and may exit at any of them, so P(wrong | stop) and the accuracy drop are not "
        f"bounded. Cues of one problem are dependent; split conformal treats them as exchangeable (as LYNX does)."
    )
    if threshold is None:
        guarantee = "No cue-level threshold is below 1: the controller never exits. " + guarantee
    return Calibration(
        mode="cue",
        threshold=threshold,
        alpha=alpha,
        epsilon=None,
        delta=None,
        n_problems=table.n_problems,
        n_cues=table.n_cues,
        guarantee=guarantee,
        method="label-conditional split conformal (LAC), exit when the set is {right}",
        candidates=tuple(float(x) for x in grid[keep]),
        risks=tuple(float(x) for x in at_or_above[keep] / wrong.size),
        p_values=tuple(float(x) for x in p_values[keep]),
        n_effective=(int(wrong.size),) * keep.size,
        certified=tuple(bool(x) for x in certified[keep]),
        n_tested=1,
    )
