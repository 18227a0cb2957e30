"""Learn-then-Test for run-level risks: `stop-precision` and `accuracy-drop`.

Owns the two run-level calibrations and the family-wise procedures they use.
Every problem is one decision: the run stops at its first cue whose score is
>= lambda (or thinks to the end), so the losses of different problems are
independent and the cues of one problem are never counted twice.

- accuracy-drop: L_i(lambda) = 1 when thinking to the end is right and the
  answer forced at the exit is wrong. Candidates are every record score of
  the calibration data (where some loss can change) plus "never", tested by
  fixed-sequence from strict to lenient, each at level delta; the threshold is
  the most lenient one rejected before the first non-rejection. Testing every
  distinct value in order is the same as testing an arbitrarily fine fixed grid.
- stop-precision: the risk is P(wrong | stop), estimated on the problems that
  stop. The strictest thresholds stop too few problems to reject anything, so
  fixed-sequence from strict would end at once; the candidates are a fixed
  grid chosen without the data, tested with Holm's step-down (as MAPIE's
  `BinaryClassificationController` does with its precision risk; MAPIE itself
  cannot be used because the label of a problem's decision changes with lambda).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cotexit.calibration.data import NEVER, CueTable
from cotexit.calibration.digits import format_threshold
from cotexit.calibration.pvalues import P_VALUES, min_samples, p_value
from cotexit.calibration.result import Calibration, thin_curve
from cotexit.calibration.shortfall import TooFewSamples, looser_levels

STOP_PRECISION_GRID = tuple(
    sorted({round(x, 2) for x in np.linspace(0.0, 1.0, 101)} | {0.995, 0.999, 0.9995, 0.9999}, reverse=True)
)


def fixed_sequence(p_values: np.ndarray, delta: float) -> int:
    """How many leading hypotheses fixed-sequence testing rejects (each at level delta, stop at the first failure)."""
    fails = np.asarray(p_values) > delta
    return int(np.argmax(fails)) if fails.any() else int(fails.size)


def holm(p_values: np.ndarray, delta: float) -> np.ndarray:
    """Holm's step-down: a boolean mask of the rejected hypotheses, FWER <= delta."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    levels = delta / (p.size - np.arange(p.size))  # (K,) delta/K, delta/(K-1), ...
    fails = p[order] > levels
    n_rejected = int(np.argmax(fails)) if fails.any() else p.size
    mask = np.zeros(p.size, dtype=bool)
    mask[order[:n_rejected]] = True
    return mask


def _shown(candidates: np.ndarray, i: int) -> str:
    """Candidate i (descending) with the digits that tell it from 1 and from the candidates either side."""
    return format_threshold(candidates[i], candidates[max(i - 1, 0) : i + 2], digits=6)


def _check_levels(name: str, target: float, delta: float, kind: str) -> None:
    if not 0.0 < target < 1.0:
        raise ValueError(f"{name} must lie in (0, 1), got {target!r}")
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must lie in (0, 1), got {delta!r}")
    if kind not in P_VALUES:
        raise ValueError(f"unknown p_value {kind!r}; choose one of {P_VALUES}")


def calibrate_accuracy_drop(
    table: CueTable, epsilon: float, delta: float = 0.1, *, p_value_kind: str = "binomial"
) -> Calibration:
    """Threshold with E[accuracy drop against thinking to the end] <= epsilon, w.p. >= 1 - delta."""
    _check_levels("epsilon", epsilon, delta, p_value_kind)
    n = table.n_problems
    need = min_samples(epsilon, delta)
    if n < need:
        raise TooFewSamples(
            f"accuracy-drop with epsilon={epsilon}, delta={delta} needs at least {need} calibration problems "
            f"(below that not even a sample without a single loss can certify a threshold); got {n}",
            need=need, got=n, unit="calibration problems", looser=looser_levels(n, "epsilon", epsilon, delta),
        )
    curves = table.exit_curves()
    candidates = np.concatenate([[NEVER], curves.thresholds[::-1]])  # (K,) strict to lenient
    harms = np.concatenate([[0], curves.harms[::-1]])  # (K,)
    p = p_value(p_value_kind, harms, n, epsilon)
    n_rejected = fixed_sequence(p, delta)
    threshold = float(candidates[n_rejected - 1]) if n_rejected >= 2 else None
    if threshold is None:
        guarantee = "No threshold passed the first test: the controller never exits, so the accuracy drop is 0."
    else:
        guarantee = (
            f"With probability >= {1 - delta:g} over the draw of the {n} calibration problems, for a new problem "
            f"from the same distribution: P(thinking to the end is right and the run that exits at the first "
            f"cue with score >= {_shown(candidates, n_rejected - 1)} is wrong) <= {epsilon}; hence the expected "
            f"accuracy drop against thinking to the end is <= {epsilon}. Problems are independent; cues of one "
            f"problem are never counted as separate samples."
        )
    keep = thin_curve(candidates.size, None if threshold is None else n_rejected - 1)
    return Calibration(
        mode="accuracy-drop",
        threshold=threshold,
        alpha=None,
        epsilon=epsilon,
        delta=delta,
        n_problems=n,
        n_cues=table.n_cues,
        guarantee=guarantee,
        method=f"Learn-then-Test, {p_value_kind} p-values, fixed-sequence from strict to lenient",
        candidates=tuple(float(x) for x in candidates[keep]),
        risks=tuple(float(x) for x in harms[keep] / n),
        p_values=tuple(float(x) for x in p[keep]),
        n_effective=(n,) * keep.size,
        certified=tuple(bool(x) for x in keep < n_rejected),
        n_tested=min(n_rejected + 1, candidates.size),
    )


def calibrate_stop_precision(
    table: CueTable,
    alpha: float,
    delta: float = 0.1,
    *,
    p_value_kind: str = "binomial",
    grid: Sequence[float] | None = None,
) -> Calibration:
    """Threshold with P(forced answer wrong | the controller stops) <= alpha, w.p. >= 1 - delta.

    `grid` must be fixed before seeing the calibration labels (default: `STOP_PRECISION_GRID`).
    """
    _check_levels("alpha", alpha, delta, p_value_kind)
    candidates = np.unique(np.asarray(STOP_PRECISION_GRID if grid is None else grid, dtype=np.float64))[::-1]
    if candidates.size == 0 or not np.isfinite(candidates).all():
        raise ValueError(f"grid must hold finite thresholds, got {grid!r}")
    k = candidates.size
    n = table.n_problems
    need = min_samples(alpha, delta / k)
    if n < need:
        raise TooFewSamples(
            f"stop-precision with alpha={alpha}, delta={delta} over {k} thresholds needs at least {need} "
            f"calibration problems (below that not even all of them stopping without a single wrong answer "
            f"can certify a threshold); got {n}",
            need=need, got=n, unit="calibration problems", looser=looser_levels(n, "alpha", alpha, delta, families=k),
        )
    counts = table.exit_curves().at(candidates)
    stops, wrong = counts["stops"], counts["wrong_stops"]  # (K,)
    p = p_value(p_value_kind, wrong, stops, alpha)  # 1 where nothing stops: not testable
    rejected = holm(p, delta)
    threshold = float(candidates[rejected].min()) if rejected.any() else None
    chosen = None if threshold is None else int(np.flatnonzero(candidates == threshold)[0])
    if threshold is None:
        guarantee = "No threshold was certified: the controller never exits, so it never stops wrongly."
    else:
        guarantee = (
            f"With probability >= {1 - delta:g} over the draw of the {n} calibration problems, for a new problem "
            f"from the same distribution: P(the answer forced at the exit is wrong | the run exits at a cue "
            f"with score >= {_shown(candidates, chosen)}) <= {alpha}. It implies an expected accuracy drop "
            f"<= alpha * P(stop) <= {alpha}, more strictly than needed: a wrong stop on a problem that thinking to "
            f"the end also gets wrong costs no accuracy. Problems are independent; one decision per problem."
        )
    keep = thin_curve(k, chosen)
    risks = np.where(stops > 0, wrong / np.maximum(stops, 1), 0.0)
    return Calibration(
        mode="stop-precision",
        threshold=threshold,
        alpha=alpha,
        epsilon=None,
        delta=delta,
        n_problems=n,
        n_cues=table.n_cues,
        guarantee=guarantee,
        method=f"Learn-then-Test, {p_value_kind} p-values on stopped problems, Holm over a fixed grid",
        candidates=tuple(float(x) for x in candidates[keep]),
        risks=tuple(float(x) for x in risks[keep]),
        p_values=tuple(float(x) for x in p[keep]),
        n_effective=tuple(int(x) for x in stops[keep]),
        certified=tuple(bool(x) for x in rejected[keep]),
        n_tested=k,
    )
