"""The live check of a bound (`cotexit.calibration.monitor`): its closed form, its state, and its error rates.

The e-value is checked against three independent forms: elementary integrals
for a uniform prior, the betting product prod(1 + lam_q (X_t - eps)) averaged
over the prior by numerical quadrature, and values computed by confseq's
`beta_binomial_log_mixture` (C++, built by hand with Boost and pybind11 2.11;
it does not pip-install here). The statistical tests run 500 streams of 2,000
audits: at true rate epsilon / 2 and at exactly epsilon (the edge of the null)
the share of streams that ever reject must stay within delta plus binomial
slack (the 99.9% quantile of Binom(500, delta) / 500), and checking a fixed-n
binomial test after every audit, which is not anytime-valid, must break it; at
3 x epsilon nearly every stream must reject, and the median audit at which it
does is printed.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import beta as beta_dist
from scipy.stats import binom

from cotexit.calibration.monitor import (
    METHOD,
    BoundMonitor,
    default_prior,
    first_rejections,
    log_e_values,
    lower_bound,
    upper_bound,
)

STREAMS, AUDITS, DELTA = 500, 2000, 0.1
SLACK = binom.ppf(0.999, STREAMS, DELTA) / STREAMS


def _stream(n: int, rate: float, seed: int) -> list[bool]:
    return list(np.random.default_rng(seed).random(n) < rate)


# --- construction and state ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, True, "0.05", None])
def test_levels_are_validated(bad):
    with pytest.raises(ValueError, match="epsilon"):
        BoundMonitor(epsilon=bad, delta=0.1)
    with pytest.raises(ValueError, match="delta"):
        BoundMonitor(epsilon=0.05, delta=bad)


@pytest.mark.parametrize(
    "state, match",
    [
        (dict(prior=(0.0, 3.0)), "prior"),
        (dict(prior=(1.0,)), "prior"),
        (dict(n=3, losses=4), "losses"),
        (dict(n=3, losses=1, rejected_at=4), "rejected_at"),
        (dict(lower=1.2), "lower"),
    ],
)
def test_bad_state_is_refused(state, match):
    with pytest.raises(ValueError, match=match):
        BoundMonitor(epsilon=0.05, delta=0.1, **state)


def test_update_takes_only_a_loss_flag():
    m = BoundMonitor(epsilon=0.05, delta=0.1)
    with pytest.raises(ValueError, match="loss"):
        m.update(2)
    assert m.n == 0
    m.update(np.bool_(True)), m.update(0)
    assert (m.n, m.losses) == (2, 1)


def test_json_resumes_exactly():
    stream = _stream(400, 0.12, seed=3)
    whole = BoundMonitor(epsilon=0.05, delta=0.1)
    for loss in stream:
        whole.update(loss)
    first = BoundMonitor(epsilon=0.05, delta=0.1)
    for loss in stream[:150]:
        first.update(loss)
    resumed = BoundMonitor.from_json(json.loads(json.dumps(first.to_json())))
    for loss in stream[150:]:
        resumed.update(loss)
    assert resumed == whole and resumed.to_json() == whole.to_json()
    assert whole.rejected and whole.to_json()["method"] == METHOD


def test_from_json_refuses_other_states():
    with pytest.raises(ValueError, match="lacks"):
        BoundMonitor.from_json({"epsilon": 0.05, "delta": 0.1})
    with pytest.raises(ValueError, match="method"):
        BoundMonitor.from_json({**BoundMonitor(0.05, 0.1).to_json(), "method": "hoeffding"})


# --- the closed form -------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [1, 7, 60, 500])
def test_uniform_prior_closed_forms(t):
    """Beta(1, 1) restricted to (eps, 1]: no loss in t audits gives 1 / (t + 1); all losses give
    (1 - eps^(t+1)) / ((t + 1) (1 - eps) eps^t)."""
    eps = 0.1
    assert math.exp(log_e_values(t, 0, eps, (1.0, 1.0))) == pytest.approx(1.0 / (t + 1), rel=1e-10)
    if t <= 60:
        expected = (1 - eps ** (t + 1)) / ((t + 1) * (1 - eps) * eps**t)
        assert math.exp(log_e_values(t, t, eps, (1.0, 1.0))) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("prior", [(2.0, 20.0), (0.5, 3.0), (1.0, 1.0)])
def test_e_value_is_the_prior_average_of_constant_bets(prior):
    """E_t = integral over q > eps of prod_t (1 + lam_q (X_t - eps)) d prior(q | q > eps), lam_q = (q - eps)/(eps (1 - eps))."""
    eps, stream = 0.05, _stream(120, 0.09, seed=11)
    x = np.asarray(stream, dtype=float)
    a, b = prior
    mass = beta_dist.sf(eps, a, b)

    def wealth(q: float) -> float:
        lam = (q - eps) / (eps * (1 - eps))
        assert 0 <= lam <= 1 / eps
        return float(np.prod(1 + lam * (x - eps))) * beta_dist.pdf(q, a, b) / mass

    expected = quad(wealth, eps, 1.0, limit=200, epsabs=0, epsrel=1e-10)[0]
    m = BoundMonitor(epsilon=eps, delta=0.1, prior=prior)
    for loss in stream:
        m.update(loss)
    assert m.e_value == pytest.approx(expected, rel=1e-7)


# (t, losses, log E) from confseq 0.0.11 `boundaries.beta_binomial_log_mixture(s=S - eps t, v=eps (1 - eps) t,
# v_opt, g=eps, h=1 - eps, alpha_opt=0.05, is_one_sided=True)`, whose prior is Beta(r / (1 - eps), r / eps) with
# r = v_opt / (2 log(1 / (2 alpha_opt)) + log(1 + 2 log(1 / (2 alpha_opt)))) - eps (1 - eps).
CONFSEQ = {
    (0.05, 500 * 0.05 * 0.95): [
        (10, 1, 0.12329148458404404), (50, 6, 1.113850353931955), (100, 11, 1.9083942748966294),
        (200, 21, 3.647332417619964), (400, 38, 5.524105700922192),
    ],
    (0.02, 1000 * 0.02 * 0.98): [
        (10, 1, 0.2958873274317977), (50, 4, 1.2298717823491767), (100, 7, 2.1641038707746016),
        (200, 13, 4.301932440001954), (400, 18, 3.5145115975160817),
    ],
}


@pytest.mark.parametrize("eps, v_opt", list(CONFSEQ))
def test_agrees_with_confseq(eps, v_opt):
    rho = v_opt / (2 * math.log(1 / 0.1) + math.log(1 + 2 * math.log(1 / 0.1)))
    r = rho - eps * (1 - eps)
    t, s, expected = np.asarray(CONFSEQ[(eps, v_opt)]).T
    got = log_e_values(t, s, eps, (r / (1 - eps), r / eps))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_e_values_fall_with_the_tested_rate_wherever_they_are_evidence():
    """With the default prior the test of rate <= m weakens as m grows wherever E >= 1 (so its rejections form an
    interval [0, lower)), and that of rate >= m strengthens."""
    m = np.linspace(1e-4, 1 - 1e-4, 2000)  # (M,)
    for eps in (0.02, 0.1):
        for n in (1, 2, 5, 13, 40, 300, 2000):
            s = np.unique(np.linspace(0, n, 40).astype(int))[:, None]  # (K, 1)
            for upper in (False, True):
                e = np.maximum(log_e_values(n, s, m, default_prior(eps), upper=upper), -1e300)  # (K, M); -inf: none
                wrong = np.diff(e, axis=1) < -1e-12 if upper else np.diff(e, axis=1) > 1e-12
                assert np.all(np.minimum(e[:, 1:], e[:, :-1])[wrong] < 0)


@pytest.mark.parametrize("n, losses", [(1, 1), (30, 2), (200, 9), (2000, 61), (50, 50), (40, 0)])
def test_bounds_are_the_edges_of_the_rejected_rates(n, losses):
    delta, prior = 0.1, default_prior(0.05)
    m = np.linspace(1e-6, 1 - 1e-6, 200_001)  # (M,) a grid 10x finer than any bound needs
    below = log_e_values(n, losses, m, prior) >= math.log(1 / delta)
    above = log_e_values(n, losses, m, prior, upper=True) >= math.log(1 / delta)
    first_kept = m[np.argmax(~below)] if below[0] else 0.0
    last_kept = m[len(m) - 1 - np.argmax(~above[::-1])] if above[-1] else 1.0
    assert lower_bound(n, losses, delta, prior) == pytest.approx(first_kept, abs=1e-5)
    assert upper_bound(n, losses, delta, prior) == pytest.approx(last_kept, abs=1e-5)
    assert lower_bound(n, losses, delta, prior) <= losses / n <= upper_bound(n, losses, delta, prior)


def test_monitor_matches_the_vectorised_test_and_its_bounds():
    eps, delta = 0.05, 0.1
    streams = np.random.default_rng(5).random((6, 300)) < np.array([[0.02], [0.05], [0.1], [0.15], [0.3], [0.0]])
    expected = first_rejections(streams, eps, delta)
    for row, at in zip(streams, expected):
        m = BoundMonitor(epsilon=eps, delta=delta)
        for loss in row:
            m.update(bool(loss))
            assert (m.lower > eps) == m.rejected  # the lower bound crosses epsilon when the test rejects
        assert (m.rejected_at or 0) == at
    assert list(expected > 0) == [False, False, True, True, True, False]


def test_message_says_which():
    m = BoundMonitor(epsilon=0.05, delta=0.1)
    m.update(False)
    assert m.message().startswith("bound holds so far") and "1/delta = 10" in m.message()
    for _ in range(6):
        m.update(True)
    assert m.message().startswith(f"REJECTED at audit {m.rejected_at}")


# --- error rates over many streams ---------------------------------------------------------------


@pytest.mark.statistical
@pytest.mark.parametrize("eps", [0.05, 0.02])
def test_false_alarms_within_delta(eps, record_property):
    rng = np.random.default_rng(20230 + int(1000 * eps))
    for rate in (eps / 2, eps):
        alarms = (first_rejections(rng.random((STREAMS, AUDITS)) < rate, eps, DELTA) > 0).mean()
        print(f"\neps={eps}: true rate {rate:g}: {alarms:.1%} of {STREAMS} streams of {AUDITS} audits ever rejected "
              f"(delta {DELTA}, allowed with slack {SLACK:.3f})")
        record_property(f"false_alarms_eps_{eps}_rate_{rate:g}", float(alarms))
        assert alarms <= SLACK, f"rate {rate}: {alarms:.3f} of streams rejected, allowed {SLACK:.3f}"


@pytest.mark.statistical
def test_checking_a_fixed_n_test_after_every_audit_breaks_delta():
    """The naive live check, a one-sided binomial test at level delta after each audit, is not anytime-valid."""
    eps = 0.05
    x = np.random.default_rng(99).random((STREAMS, AUDITS)) < eps  # (R, T)
    counts, n = np.cumsum(x, axis=1), np.arange(1, AUDITS + 1)
    naive = (binom.sf(counts - 1, n, eps) <= DELTA).any(axis=1).mean()  # P(Binom(n, eps) >= S) <= delta
    print(f"\nnaive: a binomial test after every audit rejects {naive:.1%} of streams at the true rate eps")
    assert naive > 3 * SLACK
    assert (first_rejections(x, eps, DELTA) > 0).mean() <= SLACK


@pytest.mark.statistical
@pytest.mark.parametrize("eps", [0.05, 0.02])
def test_detects_three_times_epsilon(eps, record_property):
    rate = 3 * eps
    x = np.random.default_rng(777 + int(1000 * eps)).random((STREAMS, AUDITS)) < rate
    at = first_rejections(x, eps, DELTA)
    detected = at > 0
    median = float(np.median(np.where(detected, at, AUDITS + 1)))
    kl = rate * math.log(rate / eps) + (1 - rate) * math.log((1 - rate) / (1 - eps))
    oracle = math.log(1 / DELTA) / kl  # audits a bettor who knew the rate would need, on average
    print(f"\neps={eps}: true rate {rate:g}: {detected.mean():.1%} of {STREAMS} streams rejected within {AUDITS} "
          f"audits, median detection at audit {median:.0f} (oracle log(1/delta)/KL = {oracle:.0f})")
    record_property(f"median_detection_eps_{eps}", median)
    assert detected.mean() >= 0.99
    assert median <= 2 * oracle
    # the anytime upper bound (the mirrored test of rate >= 3 eps) rarely excludes the true rate
    counts, n = np.cumsum(x, axis=1), np.arange(1, AUDITS + 1)
    misses = (log_e_values(n, counts, rate, default_prior(eps), upper=True) >= math.log(1 / DELTA)).any(axis=1).mean()
    assert misses <= SLACK
