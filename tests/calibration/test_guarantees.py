"""The guarantees, checked over hundreds of random calibration draws from a pool with known structure.

Each repetition draws n_cal problems from the 20,000-problem pool, calibrates
on them, and measures the true risk of the chosen threshold on the rest of the
pool. For the Learn-then-Test modes the rate of draws whose true risk exceeds
the target must stay within delta plus binomial slack (the 99.9% quantile of
Binom(reps, delta) / reps), and a naive choice on the same draws must break it.
The `cue` mode promises a per-cue rate in expectation over the draw, so its
check is on the mean over draws.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy.stats import binom

from cotexit.calibration import CueTable, calibrate
from cotexit.calibration.ltt import STOP_PRECISION_GRID

REPS = 500
DELTA = 0.1
SLACK = binom.ppf(0.999, REPS, DELTA) / REPS  # violation rates above this are not chance at level 0.001

pytestmark = pytest.mark.statistical


def _draws(pool: CueTable, n_cal: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(REPS):
        yield pool.subset(rng.choice(pool.n_problems, n_cal, replace=False))


def _run_risks(
    pool: CueTable, n_cal: int, seed: int, choose: Callable[[CueTable], float | None]
) -> dict[str, np.ndarray]:
    """True harm rate, P(wrong | stop) and exit rate of the chosen threshold on the pool minus the draw."""
    whole = pool.exit_curves()
    out = {"harm": [], "wrong_given_stop": [], "exit": [], "never": []}
    for cal in _draws(pool, n_cal, seed):
        lam = choose(cal)
        out["never"].append(lam is None)
        if lam is None:
            out["harm"].append(0.0), out["wrong_given_stop"].append(0.0), out["exit"].append(0.0)
            continue
        a, b = whole.at(lam), cal.exit_curves().at(lam)
        n = pool.n_problems - cal.n_problems
        stops = a["stops"] - b["stops"]
        out["harm"].append((a["harms"] - b["harms"]) / n)
        out["wrong_given_stop"].append((a["wrong_stops"] - b["wrong_stops"]) / max(stops, 1))
        out["exit"].append(stops / n)
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def _plugin(cal: CueTable, epsilon: float) -> float | None:
    """Fixed-sequence on the empirical harm rate itself: the most lenient threshold before it exceeds epsilon."""
    curves = cal.exit_curves()
    lams, risk = curves.thresholds[::-1], curves.harms[::-1] / cal.n_problems
    bad = risk > epsilon
    n_ok = int(np.argmax(bad)) if bad.any() else lams.size
    return float(lams[n_ok - 1]) if n_ok else None


@pytest.mark.parametrize("p_value", ["binomial", "hoeffding-bentkus"])
def test_accuracy_drop_guarantee(pool, p_value):
    eps = 0.05
    r = _run_risks(
        pool,
        500,
        seed=1,
        choose=lambda cal: calibrate(cal, "accuracy-drop", epsilon=eps, delta=DELTA, p_value=p_value).threshold,
    )
    violation = (r["harm"] > eps).mean()
    assert violation <= SLACK, f"violation rate {violation:.3f} > {SLACK:.3f}"
    assert r["exit"].mean() > 0.3 and r["never"].mean() < 0.05, "the test would be vacuous"


def test_accuracy_drop_without_ltt_violates(pool):
    eps = 0.05
    plugin = _run_risks(pool, 500, seed=1, choose=lambda cal: _plugin(cal, eps))
    fixed = _run_risks(pool, 500, seed=1, choose=lambda cal: 0.5)
    assert (plugin["harm"] > eps).mean() > SLACK + 0.1
    assert (fixed["harm"] > eps).mean() > 0.9


def test_stop_precision_guarantee(pool):
    alpha = 0.1
    r = _run_risks(
        pool, 1000, seed=2, choose=lambda cal: calibrate(cal, "stop-precision", alpha=alpha, delta=DELTA).threshold
    )
    violation = (r["wrong_given_stop"] > alpha).mean()
    assert violation <= SLACK, f"violation rate {violation:.3f} > {SLACK:.3f}"
    assert r["exit"].mean() > 0.2 and r["never"].mean() < 0.05, "the test would be vacuous"


def test_stop_precision_without_ltt_violates(pool):
    alpha = 0.1
    grid = np.array(STOP_PRECISION_GRID)

    def plugin(cal: CueTable) -> float | None:
        c = cal.exit_curves().at(grid)
        ok = (c["stops"] > 0) & (c["wrong_stops"] <= alpha * c["stops"])
        return float(grid[ok].min()) if ok.any() else None

    r = _run_risks(pool, 1000, seed=2, choose=plugin)
    assert (r["wrong_given_stop"] > alpha).mean() > SLACK + 0.1


def _false_exit_rates(pool: CueTable, n_cal: int, seed: int, choose: Callable[[CueTable], float | None]) -> np.ndarray:
    """True rate of exits among wrong cues of the pool minus the draw, per draw."""
    wrong_pool = np.sort(pool.scores[~pool.forced_correct])
    rates = []
    for cal in _draws(pool, n_cal, seed):
        lam = choose(cal)
        wrong_cal = cal.scores[~cal.forced_correct]
        if lam is None:
            rates.append(0.0)
            continue
        exits = wrong_pool.size - np.searchsorted(wrong_pool, lam) - (wrong_cal >= lam).sum()
        rates.append(exits / (wrong_pool.size - wrong_cal.size))
    return np.asarray(rates)


def test_cue_guarantee_in_expectation(pool):
    alpha = 0.1
    rates = _false_exit_rates(pool, 200, seed=3, choose=lambda cal: calibrate(cal, "cue", alpha=alpha).threshold)
    mean, se = rates.mean(), rates.std(ddof=1) / np.sqrt(rates.size)
    assert mean <= alpha + 3 * se, f"mean false-exit rate {mean:.4f} > {alpha} + 3 * {se:.4f}"
    assert mean > alpha - 0.02, "split conformal should be nearly exact"
    naive = _false_exit_rates(pool, 200, seed=3, choose=lambda cal: 0.5)
    assert naive.mean() > alpha + 0.05 and (naive > alpha).all()


def test_cue_mode_does_not_bound_runs(pool):
    """LYNX's per-cue bound says nothing of the run: runs pass several cues and exit at the first that fires."""
    cal = calibrate(pool.subset(np.arange(1000)), "cue", alpha=0.1)
    rest = pool.subset(np.arange(1000, pool.n_problems))
    counts = rest.exit_curves().at(cal.threshold)
    assert counts["wrong_stops"] / counts["stops"] > 0.15  # P(wrong | stop) well above alpha
