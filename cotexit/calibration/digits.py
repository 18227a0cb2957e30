"""Calibration numbers written for people: thresholds and levels with the digits that matter.

Owns `format_threshold` and `round_up`. A probe threshold can lie a few float
steps below 1 (0.99999988 exits on some problems; 1 would never exit), so a
fixed number of digits either hides it or drowns the common case in noise:
thresholds get as many digits as it takes to show how far they lie from 1
and to tell them from their neighbours. Used wherever a guarantee is worded
or a table printed; what the numbers mean is the calibration modes' business.

>>> format_threshold(0.6277530193)
'0.6278'
>>> format_threshold(0.9999998807907104)
'0.99999988'
>>> format_threshold(0.9999998807907104, gap=True)
'0.99999988 (1 - 1.2e-07)'
>>> round_up(0.030119)
0.0302
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["format_threshold", "round_up"]

_CLOSE = 0.05  # the printed value must show the distance to 1 (and to 0) within 5% of that distance
_GAP = 1e-3  # gap=True spells out 1 - x below this distance to 1


def format_threshold(value: float, neighbours: Iterable[float] = (), *, digits: int = 4, gap: bool = False) -> str:
    """`value` with at least `digits` significant digits, and more where fewer would print it as 1 (or 0), move it
    by more than 5% of its distance to 1, or print it like one of `neighbours` (other candidate thresholds).

    `gap=True` adds "(1 - x)" when the value lies within 1e-3 below 1, for a reader comparing it with 1.
    """
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"a threshold must be finite, got {value!r} (None, not inf, means never exit)")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 17:
        raise ValueError(f"digits must be an integer in 1..17, got {digits!r}")
    others = {float(n) for n in neighbours} - {v}
    text = repr(v)
    for p in range(digits, 18):
        shown = f"{v:.{p}g}"
        if 0.0 < v < 1.0 and abs(float(shown) - v) > _CLOSE * min(1.0 - v, v):
            continue
        if any(f"{o:.{p}g}" == shown for o in others):
            continue
        text = shown
        break
    if gap and 0.0 < 1.0 - v < _GAP:
        text += f" (1 - {1.0 - v:.2g})"
    return text


def round_up(x: float, significant: int = 3) -> float:
    """`x` > 0 rounded up to `significant` digits: a level that is at least the one asked for."""
    if not x > 0 or not math.isfinite(x):
        raise ValueError(f"round_up takes a finite positive number, got {x!r}")
    scale = 10 ** (significant - 1 - math.floor(math.log10(x)))
    return math.ceil(x * scale - 1e-9) / scale
