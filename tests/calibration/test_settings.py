"""One certificate over several settings (`calibrate_over_settings`), checked over 200 random calibration draws.

Three settings share a structure (`synthetic_cues.make_problems`) but not their risk: the probe's scores are
sharper in "greedy" (s ** 1.5) and inflated in "t1.0" (s ** 0.5), so a threshold exits earlier, and more
harmfully, at t1.0. Each draw takes 500 calibration problems per setting; the true harm rate of the chosen
threshold is read in every setting on 20,000 held-out problems of that setting. The intersection-union
procedure must keep the worst setting within epsilon on all but delta (plus binomial slack) of the draws;
running each setting's own certificate at the most lenient of their thresholds, or pooling the settings'
problems into one calibration, must break it.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from cotexit.calibration import CueTable, calibrate
from cotexit.calibration.settings import calibrate_over_settings
from cotexit.calibration.shortfall import TooFewSamples
from synthetic_cues import make_problems

REPS = 200
DELTA = 0.1
EPS = 0.05
N_CAL = 500
SLACK = binom.ppf(0.999, REPS, DELTA) / REPS
SHARPEN = {"greedy": 1.5, "t0.6": 1.0, "t1.0": 0.5}  # score ** power: < 1 inflates scores, > 1 sharpens them


def _setting(n: int, seed: int, power: float) -> CueTable:
    base = make_problems(n, seed, with_tokens=False)
    return CueTable(scores=base.scores**power, forced_correct=base.forced_correct, offsets=base.offsets,
                    full_correct=base.full_correct)  # fmt: skip


def _pooled(tables: list[CueTable]) -> CueTable:
    offsets, start = [0], 0
    for t in tables:
        offsets.extend((t.offsets[1:] + start).tolist())
        start += t.n_cues
    return CueTable(
        scores=np.concatenate([t.scores for t in tables]),
        forced_correct=np.concatenate([t.forced_correct for t in tables]),
        offsets=np.asarray(offsets),
        full_correct=np.concatenate([t.full_correct for t in tables]),
    )


@pytest.fixture(scope="module")
def worlds() -> dict[str, tuple[CueTable, CueTable]]:
    """Per setting: (a pool to draw calibration problems from, 20,000 held-out problems for the true risk)."""
    return {
        name: (_setting(5_000, 10 + i, power), _setting(20_000, 100 + i, power))
        for i, (name, power) in enumerate(SHARPEN.items())
    }


def _worst_true_risk(worlds, lam: float | None) -> float:
    if lam is None:
        return 0.0
    return max(held.exit_curves().at(lam)["harms"] / held.n_problems for _, held in worlds.values())


def _draws(worlds, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(REPS):
        yield {name: pool.subset(rng.choice(pool.n_problems, N_CAL, replace=False)) for name, (pool, _) in worlds.items()}


@pytest.mark.statistical
def test_worst_setting_risk_stays_within_epsilon(worlds):
    worst, exits = [], []
    for tables in _draws(worlds, seed=1):
        lam = calibrate_over_settings(tables, EPS, DELTA).calibration.threshold
        worst.append(_worst_true_risk(worlds, lam))
        exits.append(lam is not None)
    violation = float(np.mean(np.asarray(worst) > EPS))
    assert violation <= SLACK, f"worst-setting violation rate {violation:.3f} > {SLACK:.3f}"
    assert np.mean(exits) > 0.9, "the test would be vacuous: the procedure hardly ever exits"
    assert np.mean(worst) > EPS / 4, "the test would be vacuous: the chosen thresholds are far too strict"


@pytest.mark.statistical
def test_the_most_lenient_per_setting_threshold_and_pooling_violate(worlds):
    lenient, pooled = [], []
    for tables in _draws(worlds, seed=1):
        own = [calibrate(t, "accuracy-drop", epsilon=EPS, delta=DELTA).threshold for t in tables.values()]
        own = [x for x in own if x is not None]
        lenient.append(_worst_true_risk(worlds, min(own) if own else None))
        pool = calibrate(_pooled(list(tables.values())), "accuracy-drop", epsilon=EPS, delta=DELTA).threshold
        pooled.append(_worst_true_risk(worlds, pool))
    assert np.mean(np.asarray(lenient) > EPS) > SLACK + 0.3
    assert np.mean(np.asarray(pooled) > EPS) > SLACK + 0.3


def test_one_setting_is_the_one_setting_procedure():
    table = make_problems(600, seed=3, with_tokens=False)
    one = calibrate(table, "accuracy-drop", epsilon=EPS, delta=DELTA)
    over = calibrate_over_settings({"only": table}, EPS, DELTA)
    assert over.calibration.threshold == one.threshold
    assert over.settings[0].n_problems == 600 and over.settings[0].risk <= EPS


def test_every_setting_must_pass_and_each_is_recorded():
    cool, hot = _setting(600, 5, 1.5), _setting(600, 6, 0.5)
    both = calibrate_over_settings({"greedy": cool, "t1.0": hot}, EPS, DELTA)
    alone = [calibrate(t, "accuracy-drop", epsilon=EPS, delta=DELTA).threshold for t in (cool, hot)]
    # as strict as the stricter setting needs (up to candidates between its record scores, where its harm count is
    # the same), and stricter than the lenient setting alone
    assert min(alone) < both.calibration.threshold <= max(alone)
    hot_harms = hot.exit_curves().at([both.calibration.threshold, max(alone)])["harms"]
    assert hot_harms[0] == hot_harms[1]
    assert [s.name for s in both.settings] == ["greedy", "t1.0"]
    assert all(s.p_value <= DELTA for s in both.settings)
    assert "in each of these settings at once" in both.calibration.guarantee
    assert "greedy (600 problems), t1.0 (600 problems)" in both.calibration.guarantee


def test_a_setting_with_too_few_problems_is_named():
    with pytest.raises(TooFewSamples, match=r"'t1.0' has 20"):
        calibrate_over_settings({"greedy": _setting(600, 5, 1.5), "t1.0": _setting(20, 6, 0.5)}, EPS, DELTA)
    with pytest.raises(ValueError, match="at least one setting"):
        calibrate_over_settings({}, EPS, DELTA)
