"""Valid p-values for "the risk exceeds the target", and how many samples a test needs.

Owns the binomial tail p-value (exact for 0/1 losses) and the Hoeffding-Bentkus
p-value of Learn-then-Test (Angelopoulos et al., 2021), both for H0: E[L] > t
from k losses out of n, and `min_samples`: the smallest n at which even a
sample without a single loss rejects, with its inverses `min_target` and
`min_level` (what n samples can certify at all). Which hypotheses are
tested, and in which order, is `ltt`'s business.

>>> float(binomial_p_value(0, 45, 0.05)) <= 0.1
True
>>> min_samples(0.05, 0.1)
45
>>> min_target(75, 0.1), min_level(75, 0.02)
(0.0303, 0.22)
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import binom

from cotexit.calibration.digits import round_up

P_VALUES = ("binomial", "hoeffding-bentkus")


def _check_target(target: float) -> None:
    if not 0.0 < target < 1.0:
        raise ValueError(f"the target risk must lie in (0, 1), got {target!r}")


def binomial_p_value(k: np.ndarray | int, n: np.ndarray | int, target: float) -> np.ndarray:
    """P(Binom(n, target) <= k): valid for H0: E[L] >= target when the n losses are iid 0/1.

    n == 0 (nothing to test) gives 1.
    """
    _check_target(target)
    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    return np.where(n > 0, binom.cdf(k, n, target), 1.0)


def hoeffding_bentkus_p_value(k: np.ndarray | int, n: np.ndarray | int, target: float) -> np.ndarray:
    """min(Hoeffding, Bentkus) p-value for losses in [0, 1] with sum k out of n (LTT, eq. 8 and 9).

    Valid for any bounded loss, so never smaller than `binomial_p_value` on 0/1 losses.
    """
    _check_target(target)
    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    safe_n = np.maximum(n, 1.0)
    r_hat = np.minimum(k / safe_n, target)  # Hoeffding's bound is 1 once the mean reaches the target
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(r_hat > 0, r_hat * np.log(r_hat / target), 0.0) + (1 - r_hat) * np.log((1 - r_hat) / (1 - target))
    hoeffding = np.exp(-safe_n * kl)
    bentkus = math.e * binom.cdf(np.ceil(k), safe_n, target)
    return np.where(n > 0, np.minimum(np.minimum(hoeffding, bentkus), 1.0), 1.0)


def p_value(kind: str, k: np.ndarray | int, n: np.ndarray | int, target: float) -> np.ndarray:
    if kind == "binomial":
        return binomial_p_value(k, n, target)
    if kind == "hoeffding-bentkus":
        return hoeffding_bentkus_p_value(k, n, target)
    raise ValueError(f"unknown p_value {kind!r}; choose one of {P_VALUES}")


def min_samples(target: float, level: float) -> int:
    """Smallest n with (1 - target)^n <= level: below it no p-value here can reach `level`.

    Both p-values equal (1 - target)^n on a sample without losses.
    """
    _check_target(target)
    if not 0.0 < level < 1.0:
        raise ValueError(f"the significance level must lie in (0, 1), got {level!r}")
    n = max(1, math.ceil(math.log(level) / math.log1p(-target)) - 1)
    while (1.0 - target) ** n > level:
        n += 1
    return n


def min_target(n: int, level: float) -> float | None:
    """The smallest target risk (rounded up to 3 digits) that `n` samples can certify at `level`; None: none below 1.

    The inverse of `min_samples` in the target: min_samples(min_target(n, level), level) <= n.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"the significance level must lie in (0, 1), got {level!r}")
    if n < 1:
        return None
    target = round_up(-math.expm1(math.log(level) / n))  # 1 - level^(1/n)
    while target < 1.0 and min_samples(target, level) > n:  # float edges
        target = round_up(target * 1.001)
    return target if target < 1.0 else None


def min_level(n: int, target: float, families: int = 1) -> float | None:
    """The smallest delta (rounded up to 3 digits) at which `n` samples can certify `target` when delta is shared
    by `families` tests (Bonferroni: each at delta / families); None: none below 1.
    """
    _check_target(target)
    if n < 1:
        return None
    delta = round_up(families * (1.0 - target) ** n)
    while delta < 1.0 and min_samples(target, delta / families) > n:  # float edges
        delta = round_up(delta * 1.001)
    return delta if delta < 1.0 else None
