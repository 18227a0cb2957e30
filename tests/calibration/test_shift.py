"""The shift check: quiet on same-distribution scores, firing on shifted ones (synthetic first-cue scores)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from cotexit.calibration.shift import settings_shift, shift_check

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
