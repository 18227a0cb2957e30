"""Checking a data folder: every file loads, has the expected rows, and its golds grade as correct.

Owns `check_data` and its report. For each file-based suite and split whose
file is present it loads the problems, compares the row count with the
suite's `expected_rows`, grades each gold answer against itself and against
a reformatted copy (`reformat_gold`: `18` as `18.0`, `025` as `25`,
`\\frac{1}{2}` as `0.5`, anything else wrapped in `\\boxed{}` with `\\dfrac`),
and records failures with a reason. Failures listed in `KNOWN_GOLD_QUIRKS`
count as explained. A file that does not load is an error. Rendering the
report is the CLI's job.

>>> report = check_data("../shared/data")  # doctest: +SKIP
>>> report.ok, [f.rows for f in report.files][:2]  # doctest: +SKIP
(True, [7473, 1319])
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any

from cotexit.benchmarks.grading import is_equivalent, parse_number
from cotexit.benchmarks.loading import data_file_sha256, load_problems
from cotexit.benchmarks.records import Problem
from cotexit.benchmarks.suites import SUITES, SuiteSpec, get_suite

__all__ = ["KNOWN_GOLD_QUIRKS", "DataReport", "FileReport", "GoldFailure", "check_data", "reformat_gold"]

MAX_EXAMPLES = 5
CHECKS = ("self", "reformatted")

KNOWN_GOLD_QUIRKS: dict[str, str] = {}
"""Problem id -> why its gold cannot grade equal to itself or its reformatted copy (none known today)."""

_INTEGER = re.compile(r"^-?\d+$")
_DECIMAL = re.compile(r"^-?\d+\.\d+$")
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+$")


def reformat_gold(answer: str) -> str:
    """Another spelling of the same answer, as a model might write it.

    >>> [reformat_gold(a) for a in ("025", "18", "27.0", "0.15", "1,000", "\\\\frac{2}{39203}", "x+1")]
    ['25', '18.0', '27', '\\\\frac{3}{20}', '1000', '0.0000510165038389919', '\\\\boxed{x + 1}']
    """
    text = answer.strip()
    if _INTEGER.match(text):
        stripped = text.lstrip("-").lstrip("0") or "0"
        sign = "-" if text.startswith("-") else ""
        return f"{sign}{stripped}" if stripped != text.lstrip("-") else f"{text}.0"
    if _DECIMAL.match(text):
        value = Fraction(text)
        if value.denominator == 1:
            return str(value.numerator)
        sign = "-" if value < 0 else ""
        return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"
    if _THOUSANDS.match(text):
        return text.replace(",", "")
    value = parse_number(text)
    if isinstance(value, Fraction) and value.denominator != 1:
        with localcontext() as context:
            context.prec = 15
            return format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    spaced = re.sub(r"(?<=\w)([+=])(?=\w)", r" \1 ", text).replace("\\frac", "\\dfrac")
    return f"\\boxed{{{spaced}}}"


@dataclass(frozen=True)
class GoldFailure:
    """One gold answer that did not grade as equal to `candidate` in `check` ("self" or "reformatted")."""

    problem_id: str
    check: str
    gold: str
    candidate: str
    reason: str
    explained: bool

    def __post_init__(self) -> None:
        if self.check not in CHECKS:
            raise ValueError(f"GoldFailure.check must be one of {CHECKS}, got {self.check!r}")


@dataclass(frozen=True)
class FileReport:
    """What the check found in one suite split's file.

    `failures` holds every explained failure and the first `MAX_EXAMPLES`
    unexplained ones; the counts cover all of them.
    """

    suite: str
    split: str
    path: str
    rows: int = 0
    expected_rows: int | None = None
    self_passed: int = 0
    reformatted_passed: int = 0
    failures: tuple[GoldFailure, ...] = ()
    failure_count: int = 0
    unexplained_count: int = 0
    notes: tuple[str, ...] = ()
    error: str | None = None
    sha256: str | None = None
    seconds: float = 0.0

    def __post_init__(self) -> None:
        counts = (self.rows, self.self_passed, self.reformatted_passed, self.failure_count, self.unexplained_count)
        if min(counts) < 0 or max(self.self_passed, self.reformatted_passed) > self.rows:
            raise ValueError(f"FileReport {self.suite}/{self.split}: inconsistent counts {counts}")
        if self.unexplained_count > self.failure_count:
            raise ValueError(f"FileReport {self.suite}/{self.split}: more unexplained failures than failures")

    @property
    def count_ok(self) -> bool:
        return self.expected_rows is None or self.rows == self.expected_rows

    @property
    def ok(self) -> bool:
        return self.error is None and self.count_ok and self.unexplained_count == 0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True)
class DataReport:
    """The check of a whole data folder: one `FileReport` per file found, and the files not found."""

    data_dir: str
    files: tuple[FileReport, ...]
    missing: tuple[str, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "data_dir": self.data_dir,
            "ok": self.ok,
            "seconds": self.seconds,
            "missing": list(self.missing),
            "files": [f.to_json() for f in self.files],
        }


def _as_spec(suite: str | SuiteSpec) -> SuiteSpec:
    return suite if isinstance(suite, SuiteSpec) else get_suite(suite)


def _failure(problem: Problem, check: str, candidate: str) -> GoldFailure:
    quirk = KNOWN_GOLD_QUIRKS.get(problem.id)
    reason = quirk or (
        "empty gold answer" if not problem.answer.strip() else "grader does not accept it (unexplained)"
    )
    return GoldFailure(problem.id, check, problem.answer, candidate, reason, explained=quirk is not None)


def _check_file(spec: SuiteSpec, split: str, data_dir: Path) -> FileReport:
    path = data_dir / spec.files[split]
    start = time.perf_counter()
    base = {"suite": spec.name, "split": split, "path": str(path), "expected_rows": spec.expected_rows.get(split)}
    try:
        problems = load_problems(spec, split, data_dir=data_dir)
    except (ValueError, OSError) as exc:
        return FileReport(**base, error=str(exc), seconds=time.perf_counter() - start)
    failures: list[GoldFailure] = []
    self_passed = reformatted_passed = 0
    for problem in problems:
        if is_equivalent(problem.answer, problem.answer):
            self_passed += 1
        else:
            failures.append(_failure(problem, "self", problem.answer))
        candidate = reformat_gold(problem.answer)
        if is_equivalent(problem.answer, candidate):
            reformatted_passed += 1
        else:
            failures.append(_failure(problem, "reformatted", candidate))
    notes = [
        f"{p.id}: gold repaired to {p.answer!r}: {p.metadata['gold_fix']}" for p in problems if "gold_fix" in p.metadata
    ]
    ids = [p.id for p in problems]
    duplicates = len(ids) - len(set(ids))
    error = f"{duplicates} duplicate problem id(s)" if duplicates else None
    if split in spec.expected_rows and len(problems) != spec.expected_rows[split]:
        notes.append(f"expected {spec.expected_rows[split]} rows, found {len(problems)}")
    unexplained = [f for f in failures if not f.explained]
    return FileReport(
        **base,
        rows=len(problems),
        self_passed=self_passed,
        reformatted_passed=reformatted_passed,
        failures=tuple(unexplained[:MAX_EXAMPLES]) + tuple(f for f in failures if f.explained),
        failure_count=len(failures),
        unexplained_count=len(unexplained),
        notes=tuple(notes),
        error=error,
        sha256=data_file_sha256(path),
        seconds=time.perf_counter() - start,
    )


def check_data(data_dir: str | os.PathLike[str], suites: Iterable[str | SuiteSpec] | None = None) -> DataReport:
    """Load and self-grade every split found under `data_dir` of `suites` (default: all file-based suites)."""
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data dir '{root}' does not exist or is not a directory")
    chosen = [SUITES[n] for n in sorted(SUITES)] if suites is None else [_as_spec(s) for s in suites]
    start = time.perf_counter()
    files: list[FileReport] = []
    missing: list[str] = []
    for spec in chosen:
        name = spec.name
        if spec.is_generated:
            continue
        for split in spec.splits:
            if (root / spec.files[split]).is_file():
                files.append(_check_file(spec, split, root))
            else:
                missing.append(f"{name}/{split} ({spec.files[split]})")
    return DataReport(str(root), tuple(files), tuple(missing), time.perf_counter() - start)
