"""What a threshold does on held-out problems: exits, accuracy, drop, precision, per-cue errors, tokens.

Owns `evaluate` and `clopper_pearson`. Rates over problems get exact
Clopper-Pearson intervals; the per-cue false-exit rate gets one too, computed
as if cues were independent (they are not within a problem, so read it as
optimistic). Thinking tokens count up to the exit cue; the forced answer's
own tokens are not counted on either side.

>>> from cotexit.calibration.data import CueTable
>>> t = CueTable.from_lists([[0.2, 0.9]], [[False, True]], [True])
>>> evaluate(0.5, t)["accuracy_controlled"]
1.0
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import beta

from cotexit.calibration.data import CueTable
from cotexit.calibration.result import Calibration


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact two-sided interval for a binomial proportion k/n; (0, 1) when n == 0."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    if n == 0:
        return 0.0, 1.0
    tail = (1.0 - level) / 2.0
    low = 0.0 if k == 0 else float(beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1.0 - tail, k + 1, n - k))
    return low, high


def _rate(out: dict[str, Any], name: str, k: int, n: int, level: float) -> None:
    out[name] = k / n if n else None
    out[f"{name}_ci"] = clopper_pearson(k, n, level)
    out[f"{name}_n"] = n


def evaluate(calibration: Calibration | float | None, table: CueTable, *, level: float = 0.95) -> dict[str, Any]:
    """Metrics of exiting at the first cue with score >= the threshold (None: never exit) on `table`.

    `harm_rate` is what `accuracy-drop` bounds, `1 - stop_precision` what
    `stop-precision` bounds, `false_exit_rate` what `cue` bounds.
    """
    threshold = calibration.threshold if isinstance(calibration, Calibration) else calibration
    lam = np.inf if threshold is None else float(threshold)
    n = table.n_problems
    first = table.first_exit(lam)  # (P,)
    stopped = first >= 0
    exit_cue = np.where(stopped, table.offsets[:-1] + first, table.n_cues)  # (P,) flat index; n_cues: none
    exit_right = np.append(table.forced_correct, False)[exit_cue]  # (P,)
    controlled = np.where(stopped, exit_right, table.full_correct)  # (P,)
    harm = table.full_correct & ~controlled
    gain = ~table.full_correct & controlled

    out: dict[str, Any] = {"threshold": threshold, "n_problems": n, "n_cues": table.n_cues}
    _rate(out, "exit_rate", int(stopped.sum()), n, level)
    _rate(out, "accuracy_full", int(table.full_correct.sum()), n, level)
    _rate(out, "accuracy_controlled", int(controlled.sum()), n, level)
    _rate(out, "harm_rate", int(harm.sum()), n, level)
    _rate(out, "gain_rate", int(gain.sum()), n, level)
    out["accuracy_drop"] = (int(harm.sum()) - int(gain.sum())) / n if n else None
    _rate(out, "stop_precision", int(exit_right.sum()), int(stopped.sum()), level)
    wrong = ~table.forced_correct
    _rate(out, "false_exit_rate", int((wrong & (table.scores >= lam)).sum()), int(wrong.sum()), level)
    if table.has_tokens:
        used = np.where(stopped, np.append(table.cue_tokens, 0)[exit_cue], table.full_tokens)  # (P,)
        full = int(table.full_tokens.sum())
        out["thinking_tokens_full"] = full
        out["thinking_tokens_controlled"] = int(used.sum())
        out["tokens_saved_pct"] = float(100.0 * (1.0 - used.sum() / full)) if full else None
    return out
