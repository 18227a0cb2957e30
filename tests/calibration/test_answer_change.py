"""The answer-change mode: accuracy-drop's procedure on agreement labels, and its guarantee over hundreds of draws.

The synthetic problems are `make_problems` with every full run "right": each
run's answer is its own reference, and the answer forced at a cue agrees with
it from a latent point on and before it only by luck. Each repetition draws
n_cal problems, calibrates, and measures the true change rate of the chosen
threshold on a separate 50,000-problem draw of the same distribution.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from scipy.stats import binom
from synthetic_cues import make_problems

from cotexit.calibration import Calibration, CueTable, calibrate
from cotexit.calibration.answer_change import answer_change_table
from cotexit.calibration.shortfall import TooFewSamples

REPS = 300
DELTA = 0.1
EPSILON = 0.05
N_CAL = 500
SLACK = binom.ppf(0.999, REPS, DELTA) / REPS  # violation rates above this are not chance at level 0.001


def agreement_problems(n: int, seed: int) -> CueTable:
    return answer_change_table(make_problems(n, seed, p_full=1.0, luck=0.2))


@pytest.fixture(scope="module")
def table() -> CueTable:
    return agreement_problems(600, seed=7)


def test_it_is_the_accuracy_drop_procedure_on_agreement_labels(table):
    change = calibrate(table, "answer-change", epsilon=0.08)
    drop = calibrate(table, "accuracy-drop", epsilon=0.08)
    assert change.mode == "answer-change" and change.target == change.epsilon == 0.08 and change.alpha is None
    assert change.threshold is not None and change.threshold == drop.threshold
    for name in ("candidates", "risks", "p_values", "n_effective", "certified", "n_tested", "method"):
        assert getattr(change, name) == getattr(drop, name), name
    assert "differs from the answer the same run gives thinking to the end) <= 0.08" in change.guarantee
    assert "accuracy drop against thinking to the end is <= 0.08 under any grading" in change.guarantee
    assert Calibration.from_dict(json.loads(json.dumps(change.to_dict()))) == change


def test_the_loss_is_a_change_at_the_exit_and_never_without_one():
    # problem 0 exits at a cue whose answer differs; problem 1 at one that agrees; problem 2 never exits
    t = answer_change_table(CueTable.from_lists([[0.9], [0.2, 0.95], [0.1]], [[False], [False, True], [False]], [False] * 3))
    assert t.full_correct.all()
    assert t.exit_curves().at([0.5])["harms"].tolist() == [1]


def test_it_refuses_graded_tables_and_too_few_problems(table):
    graded = make_problems(100, seed=1)
    with pytest.raises(ValueError, match="full_correct must be all True.*answer_change_table"):
        calibrate(graded, "answer-change", epsilon=0.1)
    with pytest.raises(TooFewSamples, match=r"^answer-change with epsilon=0.01, delta=0.1 needs at least 230") as info:
        calibrate(table.subset(np.arange(100)), "answer-change", epsilon=0.01)
    assert "epsilon >= 0.0228" in str(info.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [({}, "answer-change needs epsilon, the allowed rate of changed answers"),
     ({"epsilon": 0.1, "alpha": 0.1}, "answer-change takes epsilon, not alpha")],
)
def test_calibrate_asks_for_epsilon(table, kwargs, message):
    with pytest.raises(ValueError, match=message):
        calibrate(table, "answer-change", **kwargs)


# --- the guarantee over many draws --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool() -> CueTable:
    return agreement_problems(20_000, seed=2024)


@pytest.fixture(scope="module")
def truth():
    """Change counts of every threshold on a separate large draw: (curves, n)."""
    held = agreement_problems(50_000, seed=99)
    return held.exit_curves(), held.n_problems


def _true_rates(pool: CueTable, truth, choose: Callable[[CueTable], float | None]) -> tuple[np.ndarray, np.ndarray]:
    """(true change rate, true exit rate) of the threshold chosen on each of REPS random draws of N_CAL problems."""
    curves, n = truth
    rng = np.random.default_rng(5)
    changes, exits = [], []
    for _ in range(REPS):
        lam = choose(pool.subset(rng.choice(pool.n_problems, N_CAL, replace=False)))
        counts = curves.at(lam if lam is not None else 2.0)
        changes.append(counts["harms"] / n)
        exits.append(counts["stops"] / n)
    return np.asarray(changes, dtype=float), np.asarray(exits, dtype=float)


def _empirical_risk_only(cal: CueTable) -> float | None:
    """The most lenient threshold whose change rate on the draw itself stays <= epsilon (no test, no delta)."""
    curves = cal.exit_curves()
    risk = curves.harms[::-1] / cal.n_problems  # strict to lenient
    bad = risk > EPSILON
    n_ok = int(np.argmax(bad)) if bad.any() else risk.size
    return float(curves.thresholds[::-1][n_ok - 1]) if n_ok else None


@pytest.mark.statistical
@pytest.mark.parametrize("p_value", ["binomial", "hoeffding-bentkus"])
def test_answer_change_guarantee_over_random_draws(pool, truth, p_value):
    choose = lambda cal: calibrate(cal, "answer-change", epsilon=EPSILON, delta=DELTA, p_value=p_value).threshold  # noqa: E731
    changes, exits = _true_rates(pool, truth, choose)
    violation = (changes > EPSILON).mean()
    assert violation <= SLACK, f"violation rate {violation:.3f} > {SLACK:.3f}"
    assert exits.mean() > 0.3, "the test would be vacuous: the chosen thresholds hardly exit"


@pytest.mark.statistical
def test_a_naive_threshold_violates_the_answer_change_bound(pool, truth):
    naive, _ = _true_rates(pool, truth, _empirical_risk_only)
    assert (naive > EPSILON).mean() > SLACK + 0.1
    fixed, _ = _true_rates(pool, truth, lambda cal: 0.5)
    assert (fixed > EPSILON).mean() > 0.9
