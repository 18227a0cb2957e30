"""The shift check: quiet on same-distribution scores, firing on shifted ones (synthetic first-cue scores)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from cotexit.calibration.shift import settings_coverage, settings_shift, shift_check

REPS = 200


@pytest.mark.statistical
def test_false_alarm_rate_is_at_most_alpha():
    rng = np.random.default_rng(0)
    alarms = sum(shift_check(rng.beta(2, 3, 1000), rng.beta(2, 3, 300), alpha=0.01).shifted for _ in range(REPS))
    assert alarms <= binom.ppf(0.999, REPS, 0.01)


@pytest.mark.parametrize(("a", "b"), [(2.6, 3.0), (2.0, 2.0), (1.2, 3.0)])
def test_shifted_scores_are_flagged(a, b):
    rng = np.random.default_rng(1)
    fired = sum(shift_check(rng.beta(2, 3, 1000), rng.beta(a, b, 300)).shifted for _ in range(50))
    assert fired >= 45


def test_too_few_scores_are_not_tested_and_bad_alpha_is_refused():
    check = shift_check(np.linspace(0, 1, 100), np.array([0.5] * 5))
    assert not check.shifted and check.p_value is None and "not tested" in check.message
    with pytest.raises(ValueError, match="alpha"):
        shift_check(np.zeros(30), np.zeros(30), alpha=1.5)


def test_settings_shift_names_what_differs():
    calibrated = {"max_new_tokens": 1024, "max_answer_tokens": 32, "sampling": {"seed": 0, "temperature": 0.6, "top_p": 1.0}}
    assert settings_shift(calibrated, {**calibrated, "sampling": {**calibrated["sampling"], "seed": 7}}) is None
    message = settings_shift(calibrated, {**calibrated, "sampling": {"seed": 0, "temperature": 1.0, "top_p": 1.0}})
    assert "sampling.temperature 1.0 (calibrated at 0.6)" in message
    assert "does not record" in settings_shift(None, calibrated)
    cues = {"phrases": ["Wait", "Hmm"], "paragraph_breaks": False, "sentence_start_only": True}
    assert settings_shift(calibrated, calibrated, cues, {**cues, "phrases": ["Hmm", "Wait"]}) is None
    assert "cues.phrases ['Wait']" in settings_shift(calibrated, calibrated, cues, {**cues, "phrases": ["Wait"]})


def _decode(t: float) -> dict:
    return {"max_new_tokens": 1024, "max_answer_tokens": 32, "sampling": {"seed": 0, "temperature": t, "top_p": 1.0}}


def test_settings_coverage_finds_the_setting_a_run_is():
    covered = [{"name": f"temperature-{t:g}", "decode": _decode(t), "dtype": "float32"} for t in (0.0, 0.6, 1.0)]
    assert settings_coverage(covered, _decode(0.6), "float32") == (None, "temperature-0.6")
    assert settings_coverage(covered, _decode(1.0), None) == (None, "temperature-1")  # dtype not told: the engine's
    note, name = settings_coverage(covered, _decode(0.3), "float32")
    assert name is None and "none of the 3 settings the probe was certified over" in note and "temperature 0.3" in note
    note, name = settings_coverage(covered, _decode(0.0), "bfloat16")
    assert name is None and "the certified setting temperature-0, but it computes in bfloat16" in note
    one = covered[1:2]  # a one-setting probe says exactly what differs
    assert "sampling.temperature 0.0 (calibrated at 0.6)" in settings_coverage(one, _decode(0.0), "float32")[0]
    assert "computes in bfloat16 and the probe's features were computed in float32" in settings_coverage(one, _decode(0.6), "bfloat16")[0]
    legacy = [{"name": None, "decode": _decode(0.6), "dtype": None}]  # a card from before dtypes were recorded
    assert settings_coverage(legacy, _decode(0.6), "bfloat16") == (None, None)
    cues = {"phrases": ["Wait"], "paragraph_breaks": False, "sentence_start_only": True}
    note, _ = settings_coverage(covered, _decode(0.0), "float32", cues, {**cues, "phrases": ["Hmm"]})
    assert "cues.phrases ['Hmm']" in note
