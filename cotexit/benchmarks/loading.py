"""Reading a suite's rows into `Problem` records.

Owns `load_problems`: pick the split, read the JSON-lines file under the data
folder (or, with no data folder, the public copy through `datasets`, imported
only then; or call a generated suite's `generate`), map each row's fields onto
`Problem`, and report bad rows by file and line. Also owns provenance helpers:
`source_path` (the file a load would read) and `data_file_sha256`. Which
folder to read is `datadir`'s decision; what a suite's fields are, `suites`'.

>>> problems = load_problems("gsm8k", limit=2)  # doctest: +SKIP
>>> problems[0].id, problems[0].answer  # doctest: +SKIP
('gsm8k/test/0', '18')
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cotexit.benchmarks.datadir import ENV_VAR, find_data_dir
from cotexit.benchmarks.records import Problem
from cotexit.benchmarks.suites import SuiteSpec, get_suite, problem_key

__all__ = ["data_file_sha256", "load_problems", "read_jsonl", "row_to_problem", "source_path"]

PathLike = str | os.PathLike[str]


def _spec(suite: str | SuiteSpec) -> SuiteSpec:
    return suite if isinstance(suite, SuiteSpec) else get_suite(suite)


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be an integer >= 1 or None, got {limit!r}")


def read_jsonl(path: PathLike, limit: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """`(line number, object)` for each non-blank line of a JSON-lines file, stopping after `limit` objects.

    A line that is not a JSON object raises `ValueError` naming the file and line.
    """
    _check_limit(limit)
    count = 0
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: malformed JSON line ({exc.msg} at column {exc.colno})") from exc
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row
            count += 1
            if limit is not None and count >= limit:
                return


def row_to_problem(spec: SuiteSpec, split: str, index: int, row: Mapping[str, Any]) -> Problem:
    """The `Problem` for raw row number `index` (0-based) of a suite's split; `ValueError` on missing fields.

    A row listed in the suite's `gold_fixes` gets the fixed answer and a
    `gold_fix` metadata entry giving the reason.
    """
    text = next((row[f] for f in spec.problem_fields if isinstance(row.get(f), str) and row[f].strip()), None)
    if text is None:
        raise ValueError(f"no problem text: none of the fields {list(spec.problem_fields)} holds a non-empty string")
    own_id = row.get(spec.id_field) if spec.id_field else None
    local_id = index if own_id is None or str(own_id) == "" else own_id
    metadata = {key: row[key] for key in spec.metadata_fields if key in row}
    fix = spec.gold_fixes.get(problem_key(text)) if spec.gold_fixes else None
    if fix is not None:
        metadata["gold_fix"] = fix.reason
    return Problem(
        id=f"{spec.name}/{split}/{local_id}",
        suite=spec.name,
        problem=text,
        answer=spec.gold(row) if fix is None else fix.answer,
        metadata=metadata,
    )


def source_path(suite: str | SuiteSpec, split: str | None = None, data_dir: PathLike | None = None) -> Path | None:
    """The local file `load_problems` would read, or `None` when it would use the hub or a generator.

    The file may not exist; `load_problems` then raises `FileNotFoundError`.
    """
    spec = _spec(suite)
    split = spec.check_split(split)
    if spec.is_generated:
        return None
    found = find_data_dir(data_dir)
    return None if found is None else found.path / spec.files[split]


def data_file_sha256(path: PathLike) -> str:
    """Hex SHA-256 of a file's bytes, for the provenance of results computed from it."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _from_file(spec: SuiteSpec, split: str, path: Path, origin: str, limit: int | None) -> list[Problem]:
    if not path.is_file():
        raise FileNotFoundError(
            f"no {spec.name} {split} file at {path} (data dir from {origin}); "
            f"point --data-dir or ${ENV_VAR} at a folder that holds {spec.files[split]}"
        )
    problems = []
    for index, (lineno, row) in enumerate(read_jsonl(path, limit)):
        try:
            problems.append(row_to_problem(spec, split, index, row))
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: {exc}") from exc
    return problems


def _from_hub(spec: SuiteSpec, split: str, limit: int | None) -> list[Problem]:
    if spec.hub is None or split not in spec.hub.splits:
        raise FileNotFoundError(
            f"no data dir found and suite {spec.name!r} split {split!r} has no hub source; "
            f"point --data-dir or ${ENV_VAR} at a folder that holds {spec.files[split]}"
        )
    try:
        from datasets import load_dataset
    except ImportError as exc:
        raise FileNotFoundError(
            f"no data dir found and the `datasets` package is not installed to fetch {spec.hub.path}; "
            f"install it, or point --data-dir or ${ENV_VAR} at the benchmark files"
        ) from exc
    problems: list[Problem] = []
    for config in spec.hub.configs:
        rows = load_dataset(spec.hub.path, config, split=spec.hub.splits[split])
        for row in rows:
            index = len(problems)
            try:
                problems.append(row_to_problem(spec, split, index, row))
            except ValueError as exc:
                raise ValueError(f"hub {spec.hub.path} ({config or 'default'}) row {index}: {exc}") from exc
            if limit is not None and len(problems) >= limit:
                return problems
    return problems


def _generated(spec: SuiteSpec, split: str, limit: int | None) -> list[Problem]:
    assert spec.generate is not None
    problems = list(spec.generate(split, limit))
    bad = next((p for p in problems if not isinstance(p, Problem)), None)
    if bad is not None:
        raise TypeError(f"suite {spec.name!r}: generate returned a {type(bad).__name__}, expected Problem")
    return problems if limit is None else problems[:limit]


def load_problems(
    suite: str | SuiteSpec,
    split: str | None = None,
    limit: int | None = None,
    data_dir: PathLike | None = None,
) -> list[Problem]:
    """The first `limit` problems (all when `None`) of `suite`'s `split` (its test split when `None`).

    Reads `<data dir>/<suite file>`; the data dir is `data_dir` or found by
    `datadir.find_data_dir`. With no data dir, loads the suite's hub copy.
    """
    spec = _spec(suite)
    split = spec.check_split(split)
    _check_limit(limit)
    if spec.is_generated:
        return _generated(spec, split, limit)
    found = find_data_dir(data_dir)
    if found is None:
        return _from_hub(spec, split, limit)
    return _from_file(spec, split, found.path / spec.files[split], found.origin, limit)
