"""Calibration data: per-problem cue scores and forced-exit labels, and where a threshold exits.

Owns `CueTable` (validated, flat, read-only arrays), its exits for a grid of
thresholds (`first_exit`) and the run-level counts as step functions of the
threshold (`exit_curves`). The controller exits at the first cue whose score is
>= lambda; a problem with no such cue thinks to the end. Where the scores come
from (a probe on hidden states) and how the labels were made (forced exits,
grading) is not known here.

>>> t = CueTable.from_lists(scores=[[0.2, 0.9], []], forced_correct=[[False, True], []],
...                         full_correct=[True, False])
>>> t.first_exit([0.5, 0.95]).tolist()
[[1, -1], [-1, -1]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

NEVER = float(np.nextafter(1.0, 2.0))  # a threshold above every score in [0, 1]: never exit


def _as_bool(name: str, values: object) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == bool:
        return arr
    if arr.size == 0:
        return arr.astype(bool)
    if arr.dtype.kind in "iuf" and np.isin(arr, (0, 1)).all():
        return arr.astype(bool)
    raise ValueError(f"{name} must hold booleans (or 0/1), got dtype {arr.dtype} with values like {arr.ravel()[:3]}")


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class CueTable:
    """All cues of all calibration problems, flat, in cue order.

    The cues of problem i are `offsets[i]:offsets[i + 1]`. `cue_tokens` (token
    position of each cue in the thinking) and `full_tokens` (thinking tokens of
    the run that thinks to the end) are optional and come together.
    """

    scores: np.ndarray  # (C,) float64 in [0, 1]
    forced_correct: np.ndarray  # (C,) bool: the answer forced at this cue is right
    offsets: np.ndarray  # (P + 1,) int64
    full_correct: np.ndarray  # (P,) bool: thinking to the end is right
    cue_tokens: np.ndarray | None = None  # (C,) int64
    full_tokens: np.ndarray | None = None  # (P,) int64
    _prefix_max: np.ndarray = field(init=False, repr=False)  # (C,) running max of scores within a problem
    _problem: np.ndarray = field(init=False, repr=False)  # (C,) problem index of each cue

    def __post_init__(self) -> None:
        scores = np.asarray(self.scores, dtype=np.float64).ravel()
        forced = _as_bool("forced_correct", self.forced_correct).ravel()
        offsets = np.asarray(self.offsets)
        full = _as_bool("full_correct", self.full_correct).ravel()
        if offsets.ndim != 1 or offsets.size < 2 or offsets.dtype.kind not in "iu":
            raise ValueError(f"offsets must be a 1-D integer array of n_problems + 1 >= 2 entries, got {offsets!r}")
        offsets = offsets.astype(np.int64)
        if offsets[0] != 0 or (np.diff(offsets) < 0).any() or offsets[-1] != scores.size:
            raise ValueError(
                f"offsets must start at 0, never decrease and end at the number of cues ({scores.size}); "
                f"got start {offsets[0]}, end {offsets[-1]}"
            )
        n_problems = offsets.size - 1
        if forced.size != scores.size:
            raise ValueError(f"forced_correct has {forced.size} entries, scores has {scores.size}")
        if full.size != n_problems:
            raise ValueError(f"full_correct has {full.size} entries for {n_problems} problems")
        bad = ~np.isfinite(scores) | (scores < 0.0) | (scores > 1.0)
        if bad.any():
            c = int(np.flatnonzero(bad)[0])
            raise ValueError(f"scores must lie in [0, 1]; cue {c} has {scores[c]!r}")
        problem = np.repeat(np.arange(n_problems), np.diff(offsets))  # (C,)
        cue_tokens, full_tokens = self._check_tokens(offsets, problem)
        for name, value in [
            ("scores", scores),
            ("forced_correct", forced),
            ("offsets", offsets),
            ("full_correct", full),
            ("cue_tokens", cue_tokens),
            ("full_tokens", full_tokens),
            ("_prefix_max", _segment_prefix_max(scores, problem, n_problems)),
            ("_problem", problem),
        ]:
            object.__setattr__(self, name, None if value is None else _readonly(value))

    def _check_tokens(self, offsets: np.ndarray, problem: np.ndarray) -> tuple[np.ndarray | None, ...]:
        if (self.cue_tokens is None) != (self.full_tokens is None):
            raise ValueError("cue_tokens and full_tokens come together: give both or neither")
        if self.cue_tokens is None:
            return None, None
        cue_tokens = np.asarray(self.cue_tokens).ravel()
        full_tokens = np.asarray(self.full_tokens).ravel()
        if cue_tokens.size != offsets[-1] or full_tokens.size != offsets.size - 1:
            raise ValueError(
                f"cue_tokens needs one entry per cue ({offsets[-1]}) and full_tokens one per problem "
                f"({offsets.size - 1}); got {cue_tokens.size} and {full_tokens.size}"
            )
        for name, arr in [("cue_tokens", cue_tokens), ("full_tokens", full_tokens)]:
            if arr.size and (arr.dtype.kind not in "iu" or (arr < 0).any()):
                raise ValueError(f"{name} must be non-negative integers, got {arr[:5]!r}")
        cue_tokens, full_tokens = cue_tokens.astype(np.int64), full_tokens.astype(np.int64)
        if cue_tokens.size:
            late = cue_tokens > full_tokens[problem]
            if late.any():
                c = int(np.flatnonzero(late)[0])
                raise ValueError(
                    f"problem {problem[c]}: cue at token {cue_tokens[c]} lies after the end of thinking "
                    f"({full_tokens[problem[c]]} tokens)"
                )
            same = problem[1:] == problem[:-1]
            back = same & (np.diff(cue_tokens) < 0)
            if back.any():
                raise ValueError(f"problem {problem[1:][back][0]}: cue_tokens must not decrease within a problem")
        return cue_tokens, full_tokens

    @classmethod
    def from_lists(
        cls,
        scores: Sequence[Sequence[float]],
        forced_correct: Sequence[Sequence[bool]],
        full_correct: Sequence[bool],
        cue_tokens: Sequence[Sequence[int]] | None = None,
        full_tokens: Sequence[int] | None = None,
    ) -> CueTable:
        """Build from one entry per problem: its cue scores and labels in cue order (possibly empty)."""
        n = len(scores)
        per_problem = {"forced_correct": forced_correct, "full_correct": full_correct}
        if cue_tokens is not None:
            per_problem["cue_tokens"] = cue_tokens
        if full_tokens is not None:
            per_problem["full_tokens"] = full_tokens
        for name, values in per_problem.items():
            if len(values) != n:
                raise ValueError(f"{name} has {len(values)} problems, scores has {n}")
        counts = np.array([len(s) for s in scores], dtype=np.int64)
        for name, values in [("forced_correct", forced_correct), ("cue_tokens", cue_tokens)]:
            if values is None:
                continue
            lengths = np.array([len(v) for v in values], dtype=np.int64)
            if (lengths != counts).any():
                i = int(np.flatnonzero(lengths != counts)[0])
                raise ValueError(f"problem {i}: {counts[i]} scores but {lengths[i]} {name} entries")

        def flat(lists: Sequence[Sequence], dtype: type) -> np.ndarray:
            return np.concatenate([np.asarray(v, dtype=dtype).ravel() for v in lists]) if n else np.zeros(0, dtype)

        forced = [_as_bool(f"forced_correct of problem {i}", v) for i, v in enumerate(forced_correct)]
        return cls(
            scores=flat(scores, np.float64),
            forced_correct=flat(forced, bool),
            offsets=np.concatenate([[0], np.cumsum(counts)]),
            full_correct=full_correct,
            cue_tokens=None if cue_tokens is None else flat(cue_tokens, np.int64),
            full_tokens=full_tokens,
        )

    def __repr__(self) -> str:
        tokens = ", with tokens" if self.has_tokens else ""
        return f"CueTable(n_problems={self.n_problems}, n_cues={self.n_cues}{tokens})"

    @property
    def n_problems(self) -> int:
        return self.offsets.size - 1

    @property
    def n_cues(self) -> int:
        return self.scores.size

    @property
    def has_tokens(self) -> bool:
        return self.cue_tokens is not None

    def __len__(self) -> int:
        return self.n_problems

    def cues_of(self, i: int) -> slice:
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def subset(self, indices: Sequence[int] | np.ndarray) -> CueTable:
        """The problems at `indices` (in that order), with all their cues."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.size != self.n_problems:
                raise ValueError(f"a boolean mask needs {self.n_problems} entries, got {idx.size}")
            idx = np.flatnonzero(idx)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise ValueError(f"indices must be a 1-D array of problem indices, got dtype {idx.dtype}")
        if idx.size and (idx.min() < -self.n_problems or idx.max() >= self.n_problems):
            raise ValueError(f"indices must lie in [0, {self.n_problems}), got {idx.min()}..{idx.max()}")
        idx = idx.astype(np.int64) % max(self.n_problems, 1)
        counts = np.diff(self.offsets)[idx]  # (P',)
        new_offsets = np.concatenate([[0], np.cumsum(counts)])
        cue = np.repeat(self.offsets[idx] - new_offsets[:-1], counts) + np.arange(new_offsets[-1])  # (C',)
        return CueTable(
            scores=self.scores[cue],
            forced_correct=self.forced_correct[cue],
            offsets=new_offsets,
            full_correct=self.full_correct[idx],
            cue_tokens=None if self.cue_tokens is None else self.cue_tokens[cue],
            full_tokens=None if self.full_tokens is None else self.full_tokens[idx],
        )

    def first_exit(self, lambdas: float | Sequence[float] | np.ndarray) -> np.ndarray:
        """Index (within its problem) of the first cue with score >= lambda, or -1: no exit.

        A scalar lambda gives shape (P,); a grid of G thresholds gives (P, G).
        """
        lam = np.asarray(lambdas, dtype=np.float64)
        scalar = lam.ndim == 0
        lam = lam.reshape(-1)  # (G,)
        # prefix maxima are sorted within each problem: count the cues below lambda by a
        # single searchsorted over (problem, rank of prefix max) keys
        values, rank = np.unique(self._prefix_max, return_inverse=True)  # (U,), (C,)
        width = values.size + 1
        keys = self._problem * width + rank  # (C,) sorted ascending
        below = np.searchsorted(values, lam, side="left")  # (G,) ranks of values < lambda
        starts = np.arange(self.n_problems, dtype=np.int64)[:, None] * width  # (P, 1)
        n_below = np.searchsorted(keys, starts + below[None, :], side="left") - self.offsets[:-1, None]  # (P, G)
        out = np.where(n_below < np.diff(self.offsets)[:, None], n_below, -1)  # (P, G)
        return out[:, 0] if scalar else out

    def at_exit(self, lambdas: float | Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(stopped, forced_correct at the exit cue) per problem (and threshold); False where no exit."""
        first = self.first_exit(lambdas)  # (P,) or (P, G)
        stopped = first >= 0
        starts = self.offsets[:-1].reshape((-1,) + (1,) * (first.ndim - 1))
        flat = np.where(stopped, starts + first, self.n_cues)  # n_cues points at the appended False
        return stopped, np.append(self.forced_correct, False)[flat]

    def exit_curves(self) -> ExitCurves:
        """Run-level counts at every threshold at once, exact (an event sweep over record scores)."""
        pm, scores, problem = self._prefix_max, self.scores, self._problem
        first = np.zeros(self.n_cues, dtype=bool)
        first[self.offsets[:-1][np.diff(self.offsets) > 0]] = True
        record = first.copy()
        record[1:] |= scores[1:] > pm[:-1]  # a cue that raises its problem's running max
        rec_value = scores[record]  # ascending within each problem
        rec_problem = problem[record]
        rec_wrong = ~self.forced_correct[record]
        rec_harm = rec_wrong & self.full_correct[rec_problem]
        last = np.ones(rec_value.size, dtype=bool)
        last[:-1] = rec_problem[1:] != rec_problem[:-1]  # the problem's top record: below it, the problem stops

        def change(outcome: np.ndarray) -> np.ndarray:
            # lowering lambda past a record swaps the outcome of the next record (or no exit) for this one
            after = np.append(outcome[1:], False) & ~last
            return outcome.astype(np.int64) - after.astype(np.int64)

        values, inv = np.unique(rec_value, return_inverse=True)  # (U,) ascending

        def count(delta: np.ndarray) -> np.ndarray:
            per_value = np.bincount(inv, weights=delta, minlength=values.size)  # (U,)
            return np.rint(np.cumsum(per_value[::-1])[::-1]).astype(np.int64)  # count at lambda = values[u]

        return ExitCurves(
            thresholds=values,
            n_problems=self.n_problems,
            stops=count(last.astype(np.int64)),
            wrong_stops=count(change(rec_wrong)),
            harms=count(change(rec_harm)),
        )


@dataclass(frozen=True)
class ExitCurves:
    """Run-level counts as step functions of lambda: constant on (thresholds[u-1], thresholds[u]].

    Above the top threshold nothing stops and every count is 0.
    """

    thresholds: np.ndarray  # (U,) ascending: the record scores, where a count can change
    n_problems: int
    stops: np.ndarray  # (U,) problems that stop
    wrong_stops: np.ndarray  # (U,) problems that stop at a cue whose forced answer is wrong
    harms: np.ndarray  # (U,) problems right when thinking to the end, wrong at the exit

    def at(self, lambdas: float | Sequence[float] | np.ndarray) -> dict[str, np.ndarray]:
        """The counts at arbitrary thresholds, same shape as `lambdas`."""
        lam = np.asarray(lambdas, dtype=np.float64)
        u = np.searchsorted(self.thresholds, lam, side="left")  # first record value >= lambda
        inside = u < self.thresholds.size
        u = np.minimum(u, max(self.thresholds.size - 1, 0))
        out = {}
        for name in ("stops", "wrong_stops", "harms"):
            arr = getattr(self, name)
            out[name] = np.where(inside, arr[u], 0) if arr.size else np.zeros(lam.shape, dtype=np.int64)
        return out


def _segment_prefix_max(scores: np.ndarray, problem: np.ndarray, n_problems: int) -> np.ndarray:
    """Running max of scores within each problem, exact: on integer (problem, rank) keys."""
    if scores.size == 0:
        return scores.copy()
    values, rank = np.unique(scores, return_inverse=True)
    width = values.size
    keys = problem * width + rank  # a later problem's keys exceed every key of an earlier one
    return values[np.maximum.accumulate(keys) - problem * width]
