"""The outcome of a calibration: the threshold, what it guarantees, and the curve it was read from.

Owns `Calibration` (frozen, JSON round-trip), the list of modes and which
level each takes (`level_name`). How each mode computes it lives in
`conformal` (cue), `ltt` (stop-precision, accuracy-drop) and `answer_change`
(accuracy-drop's procedure on agreement labels); how it is stored in a probe artifact's card is the artifact's
business (`to_dict` gives what it needs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

MODES = ("cue", "stop-precision", "accuracy-drop", "answer-change")
EPSILON_MODES = ("accuracy-drop", "answer-change")  # bound an expected loss per problem by epsilon; the others, alpha
MAX_CURVE_POINTS = 200


@dataclass(frozen=True)
class Calibration:
    """A calibrated exit threshold: exit at the first cue whose score is >= `threshold`.

    `threshold` None means no threshold could be certified: never exit.
    `candidates` (descending) with `risks` (empirical risk on the calibration
    data), `p_values` (for `cue`: the conformal bound (1 + #wrong cues at or
    above) / (n_wrong + 1)) and `n_effective` (losses behind each risk) are the
    curve, thinned to at most 200 points for the record; `certified` says
    which candidates the procedure accepted.
    """

    mode: str
    threshold: float | None
    alpha: float | None
    epsilon: float | None
    delta: float | None
    n_problems: int
    n_cues: int
    guarantee: str
    method: str  # e.g. "label-conditional split conformal", "LTT, binomial p-values, fixed-sequence"
    candidates: tuple[float, ...]
    risks: tuple[float, ...]
    p_values: tuple[float, ...]
    n_effective: tuple[int, ...]
    certified: tuple[bool, ...]
    n_tested: int  # hypotheses behind the result (before thinning the record)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown calibration mode {self.mode!r}; choose one of {MODES}")
        lengths = {len(getattr(self, f)) for f in ("candidates", "risks", "p_values", "n_effective", "certified")}
        if len(lengths) != 1:
            raise ValueError("candidates, risks, p_values, n_effective and certified must have one entry each")
        if self.threshold is not None and not np.isfinite(self.threshold):
            raise ValueError(f"threshold must be finite or None, got {self.threshold!r}")

    @property
    def target(self) -> float:
        """The bounded level: epsilon for accuracy-drop and answer-change, alpha otherwise."""
        return self.epsilon if self.mode in EPSILON_MODES else self.alpha

    def should_exit(self, score: float | np.ndarray) -> bool | np.ndarray:
        """Whether a cue with this probe score closes thinking."""
        if self.threshold is None:
            return np.zeros(np.shape(score), dtype=bool) if np.ndim(score) else False
        out = np.asarray(score) >= self.threshold
        return out if out.ndim else bool(out)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("candidates", "risks", "p_values", "n_effective", "certified"):
            out[name] = list(out[name])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown Calibration fields {unknown}")
        data = dict(data)
        for name in ("candidates", "risks", "p_values", "n_effective", "certified"):
            data[name] = tuple(data[name])
        return cls(**data)


def level_name(mode: str) -> str:
    """The level `mode` takes: "epsilon" (accuracy-drop, answer-change) or "alpha" (cue, stop-precision)."""
    if mode not in MODES:
        raise ValueError(f"unknown calibration mode {mode!r}; choose one of {MODES}")
    return "epsilon" if mode in EPSILON_MODES else "alpha"


def thin_curve(n: int, keep: int | None, max_points: int = MAX_CURVE_POINTS) -> np.ndarray:
    """Indices of an even thinning of an n-point curve to <= max_points, always keeping the ends and `keep`."""
    if n <= max_points:
        return np.arange(n)
    idx = np.unique(np.rint(np.linspace(0, n - 1, max_points - 1)).astype(np.int64))
    if keep is not None:
        idx = np.unique(np.append(idx, keep))
    return idx
