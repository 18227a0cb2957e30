"""The joint (probe threshold, depth setting) calibration: its arithmetic, and its guarantee over many draws.

Synthetic arms share one pool of problems (`synthetic_cues`): the arm without
depth exits is the pool itself; a depth arm flips a fraction q of right
answers to wrong (at the end and at every cue, independently) and costs a
fraction of the layers. Over 200 random draws of 500 calibration problems the
chosen pair's true harm rate (measured on the rest of the pool) exceeds epsilon
no more often than delta plus binomial slack, and choosing by the plug-in risk
over the same grid breaks that.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom
from synthetic_cues import make_problems

from cotexit.calibration import CueTable
from cotexit.calibration.joint import DepthArm, calibrate_joint

EPS, DELTA, REPS, N_CAL = 0.05, 0.1, 200, 500
SLACK = binom.ppf(0.999, REPS, DELTA) / REPS


def _arm(name: str, base: CueTable, flip: float, layers: float, seed: int) -> DepthArm:
    """`base` with a fraction `flip` of right answers made wrong, at `layers` of the cost per token."""
    rng = np.random.default_rng(seed)
    hit = rng.random(base.n_problems) < flip  # (P,) problems the depth exit breaks
    problem = np.repeat(np.arange(base.n_problems), np.diff(base.offsets))  # (C,)
    position = np.arange(base.n_cues) - base.offsets[problem]
    broken_from = rng.integers(0, 4, base.n_problems)  # the damage shows from this cue on
    forced = base.forced_correct & ~(hit[problem] & (position >= broken_from[problem]))
    table = CueTable(base.scores, forced, base.offsets, base.full_correct & ~hit, base.cue_tokens, base.full_tokens)
    return DepthArm(name, table, base.cue_tokens * layers + 30.0, base.full_tokens * layers, {"flip": flip} if flip else None)


def _pool_arms(n: int = 20_000) -> tuple[list[DepthArm], np.ndarray]:
    base = make_problems(n, seed=777)
    arms = [
        _arm("off", base, 0.0, 1.0, 1),
        _arm("light", base, 0.01, 0.8, 2),
        _arm("medium", base, 0.03, 0.6, 3),
        _arm("heavy", base, 0.09, 0.4, 4),  # its runs to the end alone break epsilon
    ]
    return arms, base.full_correct.copy()


def _subset(arm: DepthArm, idx: np.ndarray) -> DepthArm:
    t = arm.table
    cues = np.concatenate([np.arange(t.offsets[i], t.offsets[i + 1]) for i in idx]) if idx.size else np.zeros(0, int)
    return DepthArm(arm.name, t.subset(idx), arm.cue_cost[cues], arm.end_cost[idx], arm.layer_exit)


def _harm(arm: DepthArm, reference: np.ndarray, lam: float | None, rows: np.ndarray) -> float:
    """True harm rate of (lam, arm) on the problems `rows` of the pool."""
    t = arm.table
    first = t.first_exit(lam) if lam is not None else np.full(t.n_problems, -1)
    stopped = first >= 0
    right = np.where(stopped, t.forced_correct[np.where(stopped, t.offsets[:-1] + first, 0)], t.full_correct)
    return float((reference & ~right)[rows].mean())


@pytest.fixture(scope="module")
def pool():
    return _pool_arms()


def test_off_arm_never_exit_is_certified_with_enough_problems():
    base = make_problems(300, seed=3)
    arms = [_arm("off", base, 0.0, 1.0, 1)]
    cal = calibrate_joint(arms, base.full_correct, arms[0].end_cost, EPS, DELTA)
    assert cal.arms[0].n_certified >= 1 and cal.arm == "off"
    assert 0 < cal.compute_saved < 1


def test_arm_breaking_epsilon_at_the_end_is_never_certified():
    base = make_problems(2000, seed=4)
    arms = [_arm("off", base, 0.0, 1.0, 1), _arm("broken", base, 0.3, 0.1, 2)]
    cal = calibrate_joint(arms, base.full_correct, arms[0].end_cost, EPS, DELTA)
    broken = cal.arms[1]
    assert broken.n_certified == 0 and broken.threshold is None and cal.arm == "off"
    assert cal.arms[0].level == pytest.approx(DELTA / 2)  # Bonferroni


def test_harms_are_counted_against_the_reference():
    # one problem, one cue: the reference is right; the depth arm's forced answer is wrong, its end right
    table = CueTable.from_lists([[0.9]], [[False]], [True])
    arm = DepthArm("d", table, np.array([1.0]), np.array([2.0]), {"x": 1})
    candidates, harms, cost = arm.curves(np.array([True]))
    assert list(harms) == [0, 1] and list(cost) == [2.0, 1.0]
    assert candidates[1] == 0.9


def test_bad_input_is_refused():
    base = make_problems(100, seed=5)
    arm = _arm("off", base, 0.0, 1.0, 1)
    with pytest.raises(ValueError, match="needs at least"):
        calibrate_joint([arm], base.full_correct, arm.end_cost, 0.01, 0.01)
    with pytest.raises(ValueError, match="distinct names"):
        calibrate_joint([arm, arm], base.full_correct, arm.end_cost, EPS, DELTA)
    with pytest.raises(ValueError, match="cue_cost"):
        DepthArm("x", base, np.zeros(1), arm.end_cost)
    with pytest.raises(ValueError, match="reference"):
        calibrate_joint([arm], base.full_correct[:50], arm.end_cost[:50], EPS, DELTA)


def _plugin_choice(arms: list[DepthArm], reference: np.ndarray, base_cost: float) -> tuple[int, float | None]:
    """Naive: every pair whose empirical harm rate is <= epsilon, the one that saves the most."""
    best, choice = -np.inf, (0, None)
    for k, arm in enumerate(arms):
        candidates, harms, cost = arm.curves(reference)
        ok = harms / reference.size <= EPS
        if ok.any():
            j = int(np.flatnonzero(ok)[np.argmin(cost[ok])])
            if 1 - cost[j] / base_cost > best:
                best, choice = 1 - cost[j] / base_cost, (k, None if j == 0 else float(candidates[j]))
    return choice


@pytest.mark.statistical
def test_joint_guarantee_over_random_splits(pool):
    arms, reference = pool
    rng = np.random.default_rng(2026)
    joint_bad, plugin_bad, chosen_depth, exits = 0, 0, 0, 0
    for _ in range(REPS):
        idx = np.sort(rng.choice(reference.size, N_CAL, replace=False))
        rest = np.setdiff1d(np.arange(reference.size), idx)
        sub = [_subset(a, idx) for a in arms]
        cal = calibrate_joint(sub, reference[idx], sub[0].end_cost, EPS, DELTA)
        k = [a.name for a in arms].index(cal.arm)
        joint_bad += _harm(arms[k], reference, cal.threshold, rest) > EPS
        chosen_depth += cal.arm != "off"
        exits += cal.threshold is not None
        pk, plam = _plugin_choice(sub, reference[idx], float(sub[0].end_cost.sum()))
        plugin_bad += _harm(arms[pk], reference, plam, rest) > EPS
    assert joint_bad / REPS <= SLACK, f"joint violation rate {joint_bad / REPS:.3f} > {SLACK:.3f}"
    assert plugin_bad / REPS > SLACK + 0.1, f"the plug-in choice should break the bound, violated {plugin_bad / REPS:.3f}"
    assert chosen_depth > REPS // 2 and exits > REPS // 2, "the test would be vacuous: the joint choice must use both exits"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_curves_match_brute_force_at_every_threshold(seed):
    base = make_problems(300, seed=seed)
    rng = np.random.default_rng(seed)
    reference = base.full_correct | (rng.random(300) < 0.2)  # the reference differs from the arm's own end
    arm = DepthArm("a", base, rng.random(base.n_cues) * 100, rng.random(300) * 200)
    candidates, harms, cost = arm.curves(reference)
    probes = np.concatenate([candidates, (candidates[1:] + candidates[:-1]) / 2])  # and between candidates
    for lam in probes:
        k = np.searchsorted(-candidates, -lam, side="right") - 1  # the candidate in force at lam
        first = base.first_exit(lam)
        stopped = first >= 0
        at = np.where(stopped, base.offsets[:-1] + first, 0)
        right = np.where(stopped, base.forced_correct[at], base.full_correct)
        assert harms[k] == (reference & ~right).sum()
        assert cost[k] == pytest.approx(np.where(stopped, arm.cue_cost[at], arm.end_cost).sum())


def test_choice_restricted_to_one_setting_keeps_the_tests():
    base = make_problems(2000, seed=6)
    arms = [_arm("off", base, 0.0, 1.0, 1), _arm("light", base, 0.005, 0.9, 2)]
    free = calibrate_joint(arms, base.full_correct, arms[0].end_cost, EPS, DELTA)
    light = calibrate_joint(arms, base.full_correct, arms[0].end_cost, EPS, DELTA, only="light")
    assert light.arm == "light" and light.arms == free.arms
    with pytest.raises(ValueError, match="no depth setting named"):
        calibrate_joint(arms, base.full_correct, arms[0].end_cost, EPS, DELTA, only="nope")
