"""Splits of a corpus into probe-training and calibration problems: by problem, never by cue.

Owns `split_by_problem` and `n_calibration` (the size of its calibration
part). The cues of one problem share its prefix and its answer; putting
some in training and others in calibration would let the probe see the
calibration labels.

>>> train, calib = split_by_problem(10, 0.3, seed=0)
>>> len(train), len(calib), sorted(set(train) | set(calib)) == list(range(10))
(7, 3, True)
"""

from __future__ import annotations

import numpy as np


def split_by_problem(n_problems: int, calib_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, calib_idx): disjoint, sorted problem indices covering range(n_problems).

    The calibration part has round(calib_fraction * n_problems) problems, at least
    one, and leaves at least one for training.
    """
    if isinstance(n_problems, bool) or not isinstance(n_problems, (int, np.integer)) or n_problems < 2:
        raise ValueError(f"n_problems must be an integer >= 2 (one for each side), got {n_problems!r}")
    if not 0.0 < calib_fraction < 1.0:
        raise ValueError(f"calib_fraction must lie in (0, 1), got {calib_fraction!r}")
    n_calib = n_calibration(n_problems, calib_fraction)
    order = np.random.default_rng(seed).permutation(n_problems)
    return np.sort(order[n_calib:]), np.sort(order[:n_calib])


def n_calibration(n_problems: int, calib_fraction: float) -> int:
    """How many of `n_problems` `split_by_problem` gives calibration: round(calib_fraction * n), within 1..n-1."""
    return min(max(1, round(calib_fraction * n_problems)), n_problems - 1)
