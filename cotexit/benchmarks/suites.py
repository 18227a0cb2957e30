"""Benchmark suites declared as data, and the registry that names them.

Owns `SuiteSpec` (where a suite's rows come from, which fields hold the
problem, how to read the gold answer, which prompt template to use, how many
rows each split should have) and the registry: `SUITES`, `get_suite`,
`register_suite`. A suite is either file based (JSON lines under the data
folder, with a Hugging Face hub fallback) or generated (a
`generate(split, limit) -> list[Problem]` callable, like the `arith` suite
declared here, whose problems `arith_splits` makes). A JSON-lines file of the
user's own problems is a suite too: `get_suite("mine.jsonl")` answers
`file_suite("mine.jsonl")`, never registered. Reading files is
`loading`'s job, prompt text `prompts`', grading `grading`'s, generating arith
problems `arith`'s.

>>> get_suite("gsm8k").files["test"]
'gsm8k/test.jsonl'
>>> get_suite("gsm8k2")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: unknown suite 'gsm8k2'; did you mean 'gsm8k'? Known suites: aime24, ...
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cotexit.benchmarks.arith_splits import ARITH_SPLITS, arith_problems
from cotexit.benchmarks.extraction import gsm8k_final, last_boxed
from cotexit.benchmarks.records import Problem

__all__ = [
    "SUITES",
    "GoldFix",
    "HubSource",
    "SuiteSpec",
    "answer_field",
    "file_answer",
    "file_suite",
    "get_suite",
    "gsm8k_gold",
    "is_suite_file",
    "list_suites",
    "math_solution_gold",
    "names_a_file",
    "problem_key",
    "register_suite",
]

Row = Mapping[str, Any]
GoldFn = Callable[[Row], str]
GenerateFn = Callable[[str, int | None], list[Problem]]

_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")


def answer_field(row: Row) -> str:
    """The row's `answer` as given, as text: `'025'` stays `'025'`, `27.0` becomes `'27.0'`."""
    value = row.get("answer")
    if value is None or isinstance(value, (bool, dict, list)):
        raise ValueError(f"field 'answer' must be a string or number, got {value!r}")
    text = str(value).strip()
    if not text:
        raise ValueError("field 'answer' is empty")
    return text


def gsm8k_gold(row: Row) -> str:
    """The number after `####` in GSM8K's `answer` solution text."""
    answer = gsm8k_final(str(row.get("answer", "")))
    if answer is None:
        raise ValueError("no '#### N' line in field 'answer'")
    return answer


def file_answer(row: Row) -> str:
    """A user file's `answer`: as given, or the number after `####` when it is a GSM8K-style solution."""
    text = answer_field(row)
    final = gsm8k_final(text) if "####" in text else None
    return final if final is not None else text


def math_solution_gold(row: Row) -> str:
    """The last `\\boxed{}` of MATH's `solution`."""
    answer = last_boxed(str(row.get("solution", "")))
    if answer is None:
        raise ValueError("no \\boxed{} answer in field 'solution'")
    return answer


def problem_key(text: str) -> str:
    """A short stable key for a problem's text, the same in the local file and the hub copy."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class GoldFix:
    """A gold answer the source gets wrong or lacks, with the reason; keyed by `problem_key`."""

    answer: str
    reason: str

    def __post_init__(self) -> None:
        if not self.answer.strip() or not self.reason.strip():
            raise ValueError(f"GoldFix needs a non-empty answer and reason, got {self.answer!r}, {self.reason!r}")


def _frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class HubSource:
    """Where a suite lives on the Hugging Face hub, for `datasets.load_dataset`.

    `configs` are loaded in order and concatenated (MATH ships one config per
    subject); `splits` maps the suite's split names to the hub's.
    """

    path: str
    splits: Mapping[str, str]
    configs: tuple[str | None, ...] = (None,)

    def __post_init__(self) -> None:
        if not self.path or "/" not in self.path:
            raise ValueError(f"HubSource.path must look like 'owner/name', got {self.path!r}")
        if not self.splits:
            raise ValueError(f"HubSource {self.path!r}: splits must map at least one split")
        if not self.configs:
            raise ValueError(f"HubSource {self.path!r}: configs must hold at least one entry (None for the default)")
        object.__setattr__(self, "splits", _frozen_map(self.splits))
        object.__setattr__(self, "configs", tuple(self.configs))


@dataclass(frozen=True)
class SuiteSpec:
    """One benchmark: its splits, where their rows come from, and how a row becomes a `Problem`.

    File based: `files` maps every split to a JSON-lines path relative to the
    data folder; `hub` optionally names the public copy. Generated: `generate`
    is set and `files`/`hub` are empty. `problem_fields` are tried in order
    (copies of a benchmark name the field differently); `gold` reads the
    answer from a raw row; `id_field` names the row's own id, if any;
    `metadata_fields` are copied when present; `expected_rows` lets the data
    check flag truncated files; `gold_fixes` replaces the gold of the few
    rows whose source answer is missing or wrong (keyed by `problem_key`).
    A suite made from one file the user named (`file_suite`) sets `file` to
    its absolute path (`files` maps its one split to the same path); its
    name is the path as the user gave it.
    """

    name: str
    splits: tuple[str, ...]
    files: Mapping[str, str] = field(default_factory=dict)
    hub: HubSource | None = None
    generate: GenerateFn | None = None
    problem_fields: tuple[str, ...] = ("problem",)
    gold: GoldFn = answer_field
    id_field: str | None = None
    metadata_fields: tuple[str, ...] = ()
    prompt: str = "math"
    default_split: str = "test"
    expected_rows: Mapping[str, int] = field(default_factory=dict)
    gold_fixes: Mapping[str, GoldFix] = field(default_factory=dict)
    file: str | None = None

    def __post_init__(self) -> None:
        if self.file is not None:
            if not isinstance(self.name, str) or not self.name.strip():
                raise ValueError(f"a file suite's name must be the path as given, got {self.name!r}")
            if dict(self.files) != {self.default_split: self.file} or self.hub is not None:
                raise ValueError(
                    f"file suite {self.name!r}: files must map {self.default_split!r} to {self.file!r}, with no hub"
                )
        elif not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"suite name must be lowercase letters, digits, '_' or '-', got {self.name!r}")
        object.__setattr__(self, "splits", tuple(self.splits))
        object.__setattr__(self, "problem_fields", tuple(self.problem_fields))
        object.__setattr__(self, "metadata_fields", tuple(self.metadata_fields))
        object.__setattr__(self, "files", _frozen_map(self.files))
        object.__setattr__(self, "expected_rows", _frozen_map(self.expected_rows))
        object.__setattr__(self, "gold_fixes", _frozen_map(self.gold_fixes))
        where = f"suite {self.name!r}"
        if not self.splits or len(set(self.splits)) != len(self.splits):
            raise ValueError(f"{where}: splits must be non-empty and distinct, got {self.splits}")
        if self.default_split not in self.splits:
            raise ValueError(f"{where}: default_split {self.default_split!r} is not one of {list(self.splits)}")
        if self.generate is not None:
            if self.files or self.hub is not None:
                raise ValueError(f"{where}: a generated suite takes no files or hub source")
            if not callable(self.generate):
                raise ValueError(f"{where}: generate must be callable, got {self.generate!r}")
        else:
            if set(self.files) != set(self.splits):
                raise ValueError(
                    f"{where}: files must map exactly the splits {list(self.splits)}, got {sorted(self.files)}"
                )
            if self.hub is not None and not set(self.hub.splits) <= set(self.splits):
                raise ValueError(f"{where}: hub splits {sorted(self.hub.splits)} are not all in {list(self.splits)}")
            if not self.problem_fields:
                raise ValueError(f"{where}: problem_fields must name at least one field")
        if any(not isinstance(fix, GoldFix) for fix in self.gold_fixes.values()):
            raise ValueError(f"{where}: gold_fixes values must be GoldFix instances")
        unknown = set(self.expected_rows) - set(self.splits)
        if unknown:
            raise ValueError(f"{where}: expected_rows names unknown split(s) {sorted(unknown)}")

    @property
    def is_generated(self) -> bool:
        return self.generate is not None

    def check_split(self, split: str | None) -> str:
        """`split`, or the default split when `None`; `ValueError` naming the allowed splits otherwise."""
        if split is None:
            return self.default_split
        if split not in self.splits:
            raise ValueError(f"suite {self.name!r} has no split {split!r}; allowed: {', '.join(self.splits)}")
        return split


_MATH_METADATA = ("level", "type", "subject")

_BUILTIN = (
    SuiteSpec(
        name="gsm8k",
        splits=("train", "test"),
        files={"train": "gsm8k/train.jsonl", "test": "gsm8k/test.jsonl"},
        hub=HubSource("openai/gsm8k", {"train": "train", "test": "test"}, configs=("main",)),
        problem_fields=("question",),
        gold=gsm8k_gold,
        prompt="gsm8k",
        expected_rows={"train": 7473, "test": 1319},
    ),
    SuiteSpec(
        name="math",
        splits=("train", "test"),
        files={"train": "math/train.jsonl", "test": "math/test.jsonl"},
        hub=HubSource(
            "EleutherAI/hendrycks_math",
            {"train": "train", "test": "test"},
            configs=(
                "algebra",
                "counting_and_probability",
                "geometry",
                "intermediate_algebra",
                "number_theory",
                "prealgebra",
                "precalculus",
            ),
        ),
        gold=math_solution_gold,
        id_field="unique_id",
        metadata_fields=_MATH_METADATA,
        expected_rows={"train": 7500, "test": 5000},
        gold_fixes={
            # train/number_theory/7115.json: "the number of primes greater than n!+1 and less than n!+n is: (A) 0 ..."
            "34d3b36d1c419100": GoldFix(
                answer="0",
                reason="the source solution ends in an empty \\boxed{}; it proves there are no primes, choice (A) 0",
            ),
            # train/number_theory/7117.json: "... Let N be the number of primes appearing in this sequence ..."
            "641a7ef94229c8ca": GoldFix(
                answer="0",
                reason="the source solution ends in an empty \\boxed{}; it proves no term is prime, choice (A) 0",
            ),
        },
    ),
    SuiteSpec(
        name="math500",
        splits=("test",),
        files={"test": "math500/test.jsonl"},
        hub=HubSource("HuggingFaceH4/MATH-500", {"test": "test"}),
        id_field="unique_id",
        metadata_fields=_MATH_METADATA,
        expected_rows={"test": 500},
    ),
    SuiteSpec(
        name="aime24",
        splits=("test",),
        files={"test": "aime24/test.jsonl"},
        hub=HubSource("HuggingFaceH4/aime_2024", {"test": "train"}),
        id_field="id",
        metadata_fields=("url",),
        expected_rows={"test": 30},
    ),
    SuiteSpec(
        name="aime25",
        splits=("test",),
        files={"test": "aime25/test.jsonl"},
        hub=HubSource("opencompass/AIME2025", {"test": "test"}, configs=("AIME2025-I", "AIME2025-II")),
        problem_fields=("problem", "question"),
        id_field="id",
        expected_rows={"test": 30},
    ),
    SuiteSpec(
        name="amc23",
        splits=("test",),
        files={"test": "amc23/test.jsonl"},
        hub=HubSource("math-ai/amc23", {"test": "test"}),
        problem_fields=("problem", "question"),
        id_field="id",
        metadata_fields=("url",),
        expected_rows={"test": 40},
    ),
)


ARITH = SuiteSpec(
    name="arith",
    splits=ARITH_SPLITS,
    generate=arith_problems,
    prompt="math",
)

_REGISTRY: dict[str, SuiteSpec] = {spec.name: spec for spec in (*_BUILTIN, ARITH)}
SUITES: Mapping[str, SuiteSpec] = MappingProxyType(_REGISTRY)
"""Every registered suite by name (a read-only view; add with `register_suite`)."""


SUITE_FILE_SUFFIX = ".jsonl"


def names_a_file(text: str) -> bool:
    """Whether `text` is the path of an existing file (False for text no path can be: too long, NUL, newlines)."""
    if not text or "\n" in text:
        return False
    try:
        return Path(text).expanduser().is_file()
    except (OSError, ValueError):  # a name too long for a path, or with a NUL
        return False


def is_suite_file(name: str) -> bool:
    """Whether `--suite name` means a file: it ends in `.jsonl`, or an existing file has that path."""
    return name.lower().endswith(SUITE_FILE_SUFFIX) or names_a_file(name)


def file_suite(path: str) -> SuiteSpec:
    """The suite of a JSON-lines file of the user's own problems (`--suite FILE.jsonl`).

    Each line is an object with the problem text in `problem` (or
    `question`) and the gold answer in `answer` (a GSM8K-style solution
    ending in `#### N` gives `N`); an `id` field, when present, names the
    problem. Its one split is `test`; its name is `path` as given, so ids
    read `FILE.jsonl/test/N`. `FileNotFoundError` when there is no such file.

    >>> file_suite("no/such/problems.jsonl")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: suite file 'no/such/problems.jsonl' not found (a JSON-lines file of problems, ...)
    """
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise FileNotFoundError(
            f"suite file {path!r} not found (a JSON-lines file of problems, one object per line "
            "with 'problem' and 'answer' fields)"
        )
    return SuiteSpec(
        name=path,
        splits=("test",),
        files={"test": str(resolved)},
        file=str(resolved),
        problem_fields=("problem", "question"),
        gold=file_answer,
        id_field="id",
    )


def register_suite(spec: SuiteSpec, *, replace: bool = False) -> SuiteSpec:
    """Add `spec` to the registry; a second suite of the same name needs `replace=True`.

    >>> register_suite(get_suite("gsm8k")).name  # registering the same spec again is a no-op
    'gsm8k'
    """
    if not isinstance(spec, SuiteSpec):
        raise TypeError(f"register_suite takes a SuiteSpec, got {type(spec).__name__}")
    if spec.file is not None:
        raise ValueError(f"file suite {spec.name!r} is not registered: pass its path to get_suite")
    existing = _REGISTRY.get(spec.name)
    if existing is not None and existing is not spec and not replace:
        raise ValueError(f"suite {spec.name!r} is already registered; pass replace=True to override it")
    _REGISTRY[spec.name] = spec
    return spec


def list_suites() -> list[str]:
    """Names of all registered suites, sorted."""
    return sorted(_REGISTRY)


def get_suite(name: str) -> SuiteSpec:
    """The suite called `name`, or the file suite of the file `name` names (`is_suite_file`);
    `ValueError` with close matches for unknown names."""
    spec = _REGISTRY.get(name)
    if spec is not None:
        return spec
    if isinstance(name, str) and is_suite_file(name):
        return file_suite(name)
    known = sorted(_REGISTRY)
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise ValueError(
        f"unknown suite {name!r}; {hint}Known suites: {', '.join(known)}; "
        f"or give a file of your own problems (FILE{SUITE_FILE_SUFFIX}: one JSON object per line "
        "with 'problem' and 'answer' fields)"
    )
