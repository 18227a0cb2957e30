"""P-values, sample sizes and the family-wise procedures, against scipy, MAPIE and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from cotexit.calibration.ltt import fixed_sequence, holm
from cotexit.calibration.pvalues import binomial_p_value, hoeffding_bentkus_p_value, min_samples, p_value


def test_binomial_matches_scipy():
    k = np.array([0, 1, 3, 10, 50])
    assert np.allclose(binomial_p_value(k, 100, 0.05), binom.cdf(k, 100, 0.05))
    assert binomial_p_value(0, 0, 0.1) == 1.0  # nothing to test


def test_hoeffding_bentkus_is_never_below_binomial():
    k = np.arange(0, 60)
    for n, target in [(50, 0.1), (400, 0.05), (2000, 0.2)]:
        hb, exact = hoeffding_bentkus_p_value(k, n, target), binomial_p_value(k, n, target)
        assert (hb >= exact - 1e-12).all() and (hb <= 1.0).all()
    # without a single loss both are (1 - target)^n
    assert np.isclose(hoeffding_bentkus_p_value(0, 100, 0.05), 0.95**100)


def test_hoeffding_bentkus_matches_mapie():
    from mapie.risk_control.methods import compute_hoeffding_bentkus_p_value

    k, n = np.array([0, 3, 7, 20]), 64  # n a power of two: MAPIE's ceil(n * (k / n)) is then exactly k
    ours = hoeffding_bentkus_p_value(k, n, 0.1)
    theirs = compute_hoeffding_bentkus_p_value(k / n, n, 0.1, binary=False)[:, 0]
    assert np.allclose(ours, theirs)


@pytest.mark.parametrize("kind", ["binomial", "hoeffding-bentkus"])
@pytest.mark.parametrize("n, target", [(30, 0.1), (200, 0.05), (1000, 0.02)])
def test_valid_under_the_null(kind, n, target):
    """With the true risk exactly at the target, P(p <= delta) <= delta: exactly, and by simulation."""
    delta = 0.1
    k = np.arange(n + 1)
    rejects = p_value(kind, k, n, target) <= delta
    assert binom.pmf(k, n, target)[rejects].sum() <= delta
    draws = np.random.default_rng(0).binomial(n, target, size=20_000)
    assert (p_value(kind, draws, n, target) <= delta).mean() <= delta + 0.006  # 3 sd of 20k draws


def test_min_samples():
    assert min_samples(0.05, 0.1) == 45  # 0.95^45 = 0.0994, 0.95^44 = 0.1046
    assert min_samples(0.1, 0.1) == 22
    for target, level in [(0.05, 0.1), (0.01, 0.05), (0.2, 0.001)]:
        n = min_samples(target, level)
        assert binomial_p_value(0, n, target) <= level < binomial_p_value(0, n - 1, target)
    with pytest.raises(ValueError, match="target risk"):
        min_samples(0.0, 0.1)


def test_unknown_p_value():
    with pytest.raises(ValueError, match="hoeffding-bentkus"):
        p_value("bonferroni", 0, 10, 0.1)


def test_family_wise_procedures_match_mapie():
    from mapie.risk_control import control_fwer

    rng = np.random.default_rng(1)
    for _ in range(50):
        p = rng.uniform(0, 0.2, size=rng.integers(1, 30)) ** rng.uniform(0.5, 3)
        n_fst = fixed_sequence(p, 0.1)
        assert np.flatnonzero(np.arange(p.size) < n_fst).tolist() == control_fwer(p, 0.1, "fixed_sequence").tolist()
        assert np.flatnonzero(holm(p, 0.1)).tolist() == control_fwer(p, 0.1, "bonferroni_holm").tolist()
