"""Too little calibration data: the error names how much is missing and which levels the data could serve."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cotexit.calibration import CueTable, calibrate
from cotexit.calibration.joint import DepthArm, calibrate_joint
from cotexit.calibration.pvalues import min_level, min_samples, min_target
from cotexit.calibration.shortfall import TooFewSamples


def clean(n: int) -> CueTable:
    """n problems without a single loss: every cue right, every run right."""
    return CueTable.from_lists([[0.9]] * n, [[True]] * n, [True] * n)


@pytest.mark.parametrize("n", [1, 5, 44, 75, 114, 500])
@pytest.mark.parametrize("level", [0.01, 0.1, 0.3])
def test_min_target_is_the_smallest_three_digit_target(n, level):
    t = min_target(n, level)
    assert min_samples(t, level) <= n
    lower = round(t - 10 ** (math.floor(math.log10(t)) - 2), 12)  # one unit less in the third digit
    assert lower <= 0 or min_samples(lower, level) > n


@pytest.mark.parametrize("n, target, families", [(75, 0.02, 1), (45, 0.05, 1), (200, 0.02, 3), (10, 0.5, 1)])
def test_min_level_is_enough_and_tight(n, target, families):
    delta = min_level(n, target, families)
    assert min_samples(target, delta / families) <= n
    assert min_samples(target, delta * 0.99 / families) > n


def test_min_level_none_when_no_delta_below_one():
    assert min_level(50, 0.05, families=105) is None


def test_accuracy_drop_names_the_levels_these_problems_pass():
    with pytest.raises(TooFewSamples) as info:
        calibrate(clean(75), "accuracy-drop", epsilon=0.02)
    exc = info.value
    assert (exc.need, exc.got, exc.unit) == (114, 75, "calibration problems")
    assert "got 75. With 75, epsilon >= 0.0303 (at delta 0.1) or delta >= 0.22 (at epsilon 0.02) passes" in str(exc)
    assert isinstance(exc, ValueError)
    assert calibrate(clean(75), "accuracy-drop", epsilon=0.0303).threshold == 0.9  # the advice works
    assert calibrate(clean(75), "accuracy-drop", epsilon=0.02, delta=0.22).threshold == 0.9
    with pytest.raises(TooFewSamples):
        calibrate(clean(75), "accuracy-drop", epsilon=0.0302)


def test_stop_precision_and_cue_modes_name_their_levels():
    with pytest.raises(TooFewSamples, match=r"With 75, alpha >= 0\.0886 \(at delta 0\.1\) passes"):
        calibrate(clean(75), "stop-precision", alpha=0.05)
    assert calibrate(clean(75), "stop-precision", alpha=0.0886).threshold is not None
    wrong = CueTable.from_lists([[0.3, 0.9]] * 75, [[False, True]] * 75, [True] * 75)
    with pytest.raises(TooFewSamples, match=r"the table has 75 \(from 75 problems\)\. With 75, alpha >= 0\.0132"):
        calibrate(wrong, "cue", alpha=0.01)
    calibrate(wrong, "cue", alpha=0.0132)
    with pytest.raises(TooFewSamples) as info:
        calibrate(clean(75), "cue", alpha=0.01)
    assert info.value.looser == "" and str(info.value).endswith("(from 75 problems)")


def test_joint_says_how_many_more_problems_and_fewer_settings():
    n = 100
    table = CueTable.from_lists([[0.9]] * n, [[True]] * n, [True] * n)
    arms = [DepthArm(f"a{k}", table, np.ones(n), np.ones(n)) for k in range(2)]
    with pytest.raises(TooFewSamples, match=r"needs at least 149 .*got 100: collect 49 more problems for every depth "
                       r"setting\. With 100, epsilon >= 0\.0296 \(at delta 0\.1\)"):
        calibrate_joint(arms, np.ones(n, bool), np.ones(n), 0.02, 0.1)
    arms = [DepthArm(f"a{k}", table, np.ones(n), np.ones(n)) for k in range(3)]
    with pytest.raises(TooFewSamples, match="or 2 depth settings instead of 3"):
        calibrate_joint(arms, np.ones(n, bool), np.ones(n), 0.03, 0.1)
