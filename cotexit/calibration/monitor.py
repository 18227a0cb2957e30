"""A live check of a calibrated bound: an anytime-valid test that this run's loss rate is at most epsilon.

Owns `BoundMonitor` (fed one audited problem at a time, its state saved to and
resumed from JSON) and the vectorised `log_e_values` / `first_rejections` it is
built on. It sees only 0/1 losses: which event counts as a loss (harm, an
answer change) is the caller's.

The test. Audits X_1, X_2, ... in {0, 1}; the null is H0: P(X_t = 1 | the
audits before it) <= epsilon at every t (independent problems whose loss rate
is at most epsilon, in particular). For an alternative rate q > epsilon the likelihood
ratio after t audits with S losses and F = t - S non-losses is

    LR_q = (q / eps)^S ((1 - q) / (1 - eps))^F = prod_t (1 + lam_q (X_t - eps)),  lam_q = (q - eps) / (eps (1 - eps)),

the wealth of a bettor who stakes the fixed fraction lam_q in [0, 1/eps] on
"loss". One step multiplies it by 1 + lam_q (p - eps) <= 1 in expectation under
any p <= eps, so it is a nonnegative supermartingale under the whole null;
so is its average over q drawn from a prior (Fubini). The monitor's e-value is
that average with q ~ Beta(a, b) restricted to (eps, 1], in closed form

    E_t = [B(a+S, b+F) Q(a+S, b+F; eps)] / [B(a, b) Q(a, b; eps)] / (eps^S (1 - eps)^F),

Q(.,.; eps) the upper regularized incomplete beta function (the posterior and
prior mass above eps). It is a test supermartingale (E_0 = 1), so by Ville's
inequality P(E_t >= 1/delta for some t) <= delta under H0, at every stopping
time, however long the run: the monitor rejects, for good, at the first audit
where E_t >= 1/delta. This is a mixture martingale, not a plug-in bet: the
state is (t, S), the test is exactly reproducible from counts, and the same
closed form at every m in (0, 1) gives a confidence sequence for the rate.
It is Robbins' conjugate mixture; confseq's `beta_binomial_log_mixture` (Howard
et al. 2021, "Time-uniform, nonparametric, nonasymptotic confidence
sequences", Proposition 7, one-sided) is the same e-value with the prior
Beta(r/(1-eps), r/eps) (`tests/calibration/test_monitor.py` checks the two agree).
The default prior here is Beta(2, 1/eps) (mean about 2 eps): any prior fixed
in advance gives a valid test; this one only moves power towards rates a few
times epsilon.

The confidence sequence. `lower` is the smallest m at which the test of
"rate <= m" does not reject (every rate below it is rejected); `upper` the
largest m at which the mirrored test of "rate >= m" (prior restricted to
[0, m)) does not. Neither test rejects on the far side of the empirical rate,
so each is found by a scan between the two and bisection. The monitor keeps
the running max of `lower` and the running min of `upper`. With probability
>= 1 - delta, `lower` never exceeds the rate (the largest conditional rate
so far, if it moves); with probability >= 1 - delta, `upper` is never below it
(the smallest); both at once with probability >= 1 - 2 delta. `lower >
upper` can only mean the rate moved during the run. With the default prior
the e-value decreases in m wherever it is >= 1 (checked in the tests), so
`lower > epsilon` exactly when the test has rejected.

Why hand-written: confseq 0.0.11 (2023, the latest) ships no wheel; its sdist
needs the Boost C++ headers and pins pybind11 2.6, which does not compile
against Python 3.11, so `pip install confseq` fails here. `expectation` 0.6
requires Python >= 3.12 (this package supports 3.10). The statistic itself is
a dozen lines over scipy's incomplete beta function.

>>> m = BoundMonitor(epsilon=0.05, delta=0.1)
>>> for loss in [False] * 40 + [True] * 10:
...     _ = m.update(loss)
>>> m.n, m.losses, m.rejected, m.rejected_at
(50, 10, True, 47)
>>> BoundMonitor.from_json(m.to_json()) == m
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import betainc, betaincc, betaln

METHOD = "beta-binomial mixture test martingale, Ville's inequality"
_ITERATIONS = 40  # bisection steps within one grid cell for the confidence bounds


def default_prior(epsilon: float) -> tuple[float, float]:
    """Beta(2, 1/epsilon): mean 2 eps / (1 + 2 eps), about twice the bound."""
    return (2.0, 1.0 / epsilon)


def log_e_values(
    n: np.ndarray, losses: np.ndarray, m: np.ndarray | float, prior: tuple[float, float], upper: bool = False
) -> np.ndarray:
    """log E after `n` audits with `losses` losses, testing H0: rate <= m (`upper`: H0: rate >= m); broadcasts.

    A tail mass too small for float64 reads as no evidence (-inf), never as evidence.
    """
    a, b = prior
    n, s, m = np.broadcast_arrays(np.asarray(n, np.float64), np.asarray(losses, np.float64), np.asarray(m, np.float64))
    f = n - s
    tail = betainc if upper else betaincc  # posterior mass below m (upper) or above it (lower)
    prior_mass, post_mass = tail(a, b, m), tail(a + s, b + f, m)
    with np.errstate(divide="ignore", invalid="ignore"):
        likelihood = s * np.log(m) + f * np.log1p(-m)
        out = betaln(a + s, b + f) + np.log(post_mass) - betaln(a, b) - np.log(prior_mass) - likelihood
    return np.where((prior_mass > 0) & (post_mass > 0), out, -np.inf)


def first_rejections(losses: np.ndarray, epsilon: float, delta: float, prior: tuple[float, float] | None = None) -> np.ndarray:
    """(R,) for an (R, T) array of 0/1 losses: the 1-based audit at which each stream's test first rejects
    H0: rate <= epsilon at level delta, 0 where it never does (what `BoundMonitor` does, for many streams)."""
    _check_levels(epsilon, delta)
    x = np.asarray(losses)
    if x.ndim != 2:
        raise ValueError(f"losses must be (streams, audits), got shape {x.shape}")
    counts = np.cumsum(x, axis=1, dtype=np.int64)  # (R, T)
    n = np.arange(1, x.shape[1] + 1)  # (T,)
    hit = log_e_values(n, counts, epsilon, prior or default_prior(epsilon)) >= math.log(1.0 / delta)  # (R, T)
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)


_GRID = 256  # scan points between the empirical rate and the far end before bisecting


def _first_kept(rejected: Callable[[np.ndarray], np.ndarray], near: float, far: float) -> float:
    """Walking from `near` (rejected side) towards `far` (never rejected), the first point the test does not
    reject: a scan over `_GRID` cells, then bisection inside the first cell where it stops rejecting. (A gap in
    the rejected rates narrower than a cell would be stepped over; the tests check there is none.)"""
    grid = np.linspace(near, far, _GRID + 1)  # (G+1,) from near to far; far is never rejected
    kept = ~rejected(grid)
    k = int(np.argmax(kept))
    if k == 0:
        return near
    lo, hi = grid[k - 1], grid[k]  # lo rejected, hi kept
    for _ in range(_ITERATIONS):
        mid = 0.5 * (lo + hi)
        if rejected(np.asarray(mid)):
            lo = mid
        else:
            hi = mid
    return float(hi)


def lower_bound(n: int, losses: int, delta: float, prior: tuple[float, float]) -> float:
    """inf{m : the test of "rate <= m" does not reject after these counts}: the rates below it are rejected.

    No rate at or above the empirical rate S/n is ever rejected (each q > m >= S/n fits the data worse than m),
    so the search runs from 0 up to S/n.
    """
    if losses == 0:
        return 0.0
    threshold = math.log(1.0 / delta)
    tiny = 1e-12
    return _first_kept(lambda m: log_e_values(n, losses, np.maximum(m, tiny), prior) >= threshold, 0.0, losses / n)


def upper_bound(n: int, losses: int, delta: float, prior: tuple[float, float]) -> float:
    """sup{m : the test of "rate >= m" does not reject after these counts}: the rates above it are rejected."""
    if losses == n:
        return 1.0
    threshold = math.log(1.0 / delta)
    tiny = 1e-12
    return _first_kept(
        lambda m: log_e_values(n, losses, np.minimum(m, 1.0 - tiny), prior, upper=True) >= threshold, 1.0, losses / n
    )


def _check_levels(epsilon: Any, delta: Any) -> None:
    for name, value in (("epsilon", epsilon), ("delta", delta)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")


@dataclass
class BoundMonitor:
    """Anytime-valid test of "the loss rate is at most `epsilon`", fed one audit at a time (module docstring).

    `update(loss)` after each audited problem; `rejected` once the e-value has reached 1/`delta` (it stays
    rejected); `lower`/`upper` bound the rate at every audit at once. State is the counts and the running
    bounds: `to_json`/`from_json` resume it exactly.
    """

    epsilon: float
    delta: float
    prior: tuple[float, float] | None = None  # Beta(a, b) over the alternative rates; None: `default_prior`
    n: int = 0
    losses: int = 0
    rejected_at: int | None = None  # 1-based audit at which E first reached 1/delta
    lower: float = 0.0  # running max of the anytime lower bound
    upper: float = 1.0  # running min of the anytime upper bound
    log_e_value: float = field(default=0.0, init=False, compare=False)  # derived from (n, losses); cached

    def __post_init__(self) -> None:
        _check_levels(self.epsilon, self.delta)
        self.epsilon, self.delta = float(self.epsilon), float(self.delta)
        prior = default_prior(self.epsilon) if self.prior is None else self.prior
        if len(prior) != 2 or not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in prior):
            raise ValueError(f"prior must be two positive numbers (a, b) of a Beta distribution, got {self.prior!r}")
        self.prior = (float(prior[0]), float(prior[1]))
        if not (isinstance(self.n, int) and isinstance(self.losses, int) and 0 <= self.losses <= self.n):
            raise ValueError(f"need integers 0 <= losses <= n, got losses={self.losses!r}, n={self.n!r}")
        if self.rejected_at is not None and not (isinstance(self.rejected_at, int) and 1 <= self.rejected_at <= self.n):
            raise ValueError(f"rejected_at must be None or an audit in 1..{self.n}, got {self.rejected_at!r}")
        if not (0.0 <= self.lower <= 1.0 and 0.0 <= self.upper <= 1.0):
            raise ValueError(f"lower and upper must lie in [0, 1], got lower={self.lower!r}, upper={self.upper!r}")
        self.log_e_value = float(log_e_values(self.n, self.losses, self.epsilon, self.prior))

    @property
    def threshold(self) -> float:
        """1/delta: the e-value at which the test rejects."""
        return 1.0 / self.delta

    @property
    def e_value(self) -> float:
        """E_n: the current wealth of the mixture bettor (1 before any audit; may fall after a rejection)."""
        return math.exp(min(self.log_e_value, 700.0))

    @property
    def rejected(self) -> bool:
        return self.rejected_at is not None

    @property
    def rate(self) -> float | None:
        return self.losses / self.n if self.n else None

    def update(self, loss: bool) -> bool:
        """Record one audited problem (`loss`: the bounded event happened); returns `rejected`."""
        if not isinstance(loss, (bool, np.bool_)) and loss not in (0, 1):
            raise ValueError(f"loss must be a bool (or 0/1), got {loss!r}")
        self.n += 1
        self.losses += int(bool(loss))
        self.log_e_value = float(log_e_values(self.n, self.losses, self.epsilon, self.prior))
        if self.rejected_at is None and self.log_e_value >= math.log(self.threshold):
            self.rejected_at = self.n
        self.lower = max(self.lower, lower_bound(self.n, self.losses, self.delta, self.prior))
        self.upper = min(self.upper, upper_bound(self.n, self.losses, self.delta, self.prior))
        return self.rejected

    def message(self) -> str:
        """One line: whether the bound holds so far, with the numbers."""
        level = f"1/delta = {self.threshold:g}"
        if self.rejected:
            return (f"REJECTED at audit {self.rejected_at}: the loss rate exceeds {self.epsilon:g} on this run "
                    f"(e-value reached {level}; now {self.e_value:.3g}, n={self.n})")
        return f"bound holds so far (e-value {self.e_value:.3g} < {level}, n={self.n})"

    def to_json(self) -> dict[str, Any]:
        """The state (what `from_json` reads) and, for readers, the current e-value, rate and threshold."""
        return {
            "method": METHOD,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "prior": list(self.prior),
            "n": self.n,
            "losses": self.losses,
            "rejected_at": self.rejected_at,
            "lower": self.lower,
            "upper": self.upper,
            "rejected": self.rejected,
            "e_value": self.e_value,
            "threshold": self.threshold,
            "rate": self.rate,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BoundMonitor:
        """Resume a monitor from `to_json`; derived fields are recomputed, not trusted."""
        if data.get("method", METHOD) != METHOD:
            raise ValueError(f"not a {METHOD!r} monitor state: method {data.get('method')!r}")
        keys = ("epsilon", "delta", "prior", "n", "losses", "rejected_at", "lower", "upper")
        missing = [k for k in keys if k not in data]
        if missing:
            raise ValueError(f"monitor state lacks {missing}")
        return cls(**{k: data[k] for k in keys})
