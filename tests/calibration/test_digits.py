"""Thresholds printed with the digits that matter (`cotexit.calibration.digits`), in tables and guarantees."""

from __future__ import annotations

import numpy as np
import pytest

from cotexit.calibration import CueTable, calibrate
from cotexit.calibration.digits import format_threshold, round_up

F32_BELOW_1 = [float(np.float32(1) - np.float32(2.0**-24) * k) for k in (1, 2, 3)]  # 0.99999994, 0.99999988, ...


@pytest.mark.parametrize("value, text", [
    (0.6277530193, "0.6278"),
    (0.5, "0.5"),
    (0.9999998807907104, "0.99999988"),
    (0.999999, "0.999999"),
    (1e-5, "1e-05"),
    (1.0, "1"),
])
def test_digits(value, text):
    assert format_threshold(value) == text


def test_never_printed_as_one_and_distance_to_one_kept():
    for value in [*F32_BELOW_1, 1 - 1e-12, 0.9996]:
        text = format_threshold(value)
        assert text != "1" and float(text) < 1.0
        assert abs(float(text) - value) <= 0.05 * (1 - value)


def test_neighbours_are_told_apart():
    texts = [format_threshold(v, F32_BELOW_1) for v in F32_BELOW_1]
    assert len(set(texts)) == 3
    assert format_threshold(0.62775, [0.62781]) == "0.62775"
    assert format_threshold(0.62775) == "0.6278"


def test_gap_spells_out_the_distance_to_one():
    assert format_threshold(0.9999998807907104, gap=True) == "0.99999988 (1 - 1.2e-07)"
    assert format_threshold(0.6277530193, gap=True) == "0.6278"


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_non_finite_is_refused(bad):
    with pytest.raises(ValueError, match="finite"):
        format_threshold(bad)


def test_round_up():
    assert round_up(0.030119) == 0.0302
    assert round_up(0.03) == 0.03
    assert round_up(0.2187) == 0.219
    with pytest.raises(ValueError):
        round_up(0.0)


def test_guarantee_text_shows_a_threshold_just_below_one():
    near = F32_BELOW_1[1]
    table = CueTable.from_lists([[0.3, near]] * 80, [[False, True]] * 80, [True] * 80)
    cal = calibrate(table, "accuracy-drop", epsilon=0.05)
    assert cal.threshold == near
    assert "score >= 0.99999988 is wrong" in cal.guarantee
    stop = calibrate(CueTable.from_lists([[0.3, 0.95]] * 300, [[False, True]] * 300, [True] * 300), "stop-precision",
                     alpha=0.1)
    assert f"score >= {stop.threshold:g})" in stop.guarantee
