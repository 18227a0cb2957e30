"""The `arith` benchmark suite: deterministic, disjoint train/calib/test splits.

Owns split assignment and the mapping of `ArithProblem` onto benchmark
`Problem` records. Each split draws from its own seeded stream and keeps a
problem only if the SHA-256 of its canonical text falls into that split's
hash bucket, so no text can ever appear in two splits, whatever the stream
or version. The suite's declaration (`ARITH`) is `suites`'; the problems
themselves come from `arith`.

>>> probs = arith_problems("test", limit=3)
>>> probs[0].id, probs[0].suite
('arith/test/0', 'arith')
"""

from __future__ import annotations

import hashlib
import random
from functools import lru_cache

from cotexit.benchmarks.records import Problem
from cotexit.benchmarks.arith import LEVELS, ArithProblem, generate_problem

ARITH_SPLITS = ("train", "calib", "test")
SUITE = "arith"
DEFAULT_SIZES = {"train": 60_000, "calib": 2_000, "test": 1_000}

_BUCKETS = 20  # test: bucket 0, calib: bucket 1, train: the other 18
_SPLIT_BUCKETS = {"test": frozenset({0}), "calib": frozenset({1}), "train": frozenset(range(2, _BUCKETS))}
_SPLIT_SEEDS = {"train": 1_000_003, "calib": 2_000_003, "test": 3_000_017}


def split_of_text(text: str) -> str:
    """The only split a problem with this canonical text may belong to."""
    bucket = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % _BUCKETS
    for split, buckets in _SPLIT_BUCKETS.items():
        if bucket in buckets:
            return split
    raise AssertionError("bucket table does not cover all buckets")


def _check_split(split: str) -> None:
    if split not in ARITH_SPLITS:
        raise ValueError(f"unknown arith split {split!r}; known: {', '.join(ARITH_SPLITS)}")


@lru_cache(maxsize=8)
def _structured(split: str, n: int) -> tuple[ArithProblem, ...]:
    rng = random.Random(_SPLIT_SEEDS[split])
    seen: set[str] = set()
    out: list[ArithProblem] = []
    while len(out) < n:
        level = LEVELS[len(out) % len(LEVELS)]
        prob = generate_problem(rng, level)
        text = prob.text
        if text in seen or split_of_text(text) != split:
            continue
        seen.add(text)
        out.append(prob)
    return tuple(out)


def arith_structured(split: str, limit: int | None = None) -> list[ArithProblem]:
    """The structured problems behind `arith_problems` (same order), for trace writing."""
    _check_split(split)
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit!r}")
    n = DEFAULT_SIZES[split] if limit is None else limit
    # The stream is a prefix-stable sequence: asking for fewer returns a prefix.
    return list(_structured(split, max(n, 0)))


def to_record(split: str, index: int, prob: ArithProblem) -> Problem:
    return Problem(
        id=f"{SUITE}/{split}/{index}",
        suite=SUITE,
        problem=prob.text,
        answer=str(prob.answer),
        metadata={"level": prob.level, "split": split, "steps": len(prob.steps)},
    )


def arith_problems(split: str, limit: int | None = None) -> list[Problem]:
    """Problems of one split, deterministic and stable; `limit` takes a prefix.

    `test` has 1000 problems by default, `calib` 2000, `train` 60000; levels
    cycle 1..5 so every prefix is balanced across levels.
    """
    return [to_record(split, i, p) for i, p in enumerate(arith_structured(split, limit))]
