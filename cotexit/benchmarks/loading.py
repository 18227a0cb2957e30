"""Reading a suite's rows into `Problem` records, and fetching a suite's files from the hub.

Owns `load_problems`: pick the split, read the JSON-lines file under the data
folder (or a file suite's own file; or, with no data folder, the public copy
through `datasets`, imported only then; or call a generated suite's
`generate`), map each row's fields onto `Problem`, and report bad rows by
file and line. The hub is not asked when `cotexit.hub.offline_reason` gives a
reason (an offline variable, no network): the error then says at once where
cotexit looked and how to point it at data. `fetch_suite` writes a suite's hub
rows as the JSON-lines files `load_problems` reads. Also owns provenance
helpers: `source_path` (the file a load would read), `data_file_sha256` and
`data_provenance` (both, as a run records them).
Which folder to read is `datadir`'s decision; what a suite's fields are,
`suites`'.

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

from cotexit import hub
from cotexit.benchmarks.datadir import ENV_VAR, find_data_dir, searched, user_data_dir
from cotexit.benchmarks.records import Problem
from cotexit.benchmarks.suites import SuiteSpec, get_suite, problem_key

__all__ = [
    "data_file_sha256",
    "data_provenance",
    "fetch_suite",
    "load_problems",
    "read_jsonl",
    "row_to_problem",
    "source_path",
]

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
    if spec.file is not None:
        return Path(spec.file)
    found = find_data_dir(data_dir)
    return None if found is None else found.path / spec.files[split]


def data_file_sha256(path: PathLike) -> str:
    """Hex SHA-256 of a file's bytes, for the provenance of results computed from it."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def data_provenance(suite: str | SuiteSpec, split: str | None = None, data_dir: PathLike | None = None) -> dict[str, str]:
    """The data entry of a run's provenance: the file read and its SHA-256, or where generated or hub rows came from."""
    source = source_path(suite, split, data_dir)
    if source is None or not source.is_file():
        return {"source": "generated or hub"}
    return {"file": str(source), "sha256": data_file_sha256(source)}


def _how_to_get(spec: SuiteSpec, split: str, found: Path | None = None) -> str:
    """The end of a 'no data' message: how to point cotexit at the file, or get it (into `found`, the data dir
    that was read, or else the user's data folder, which cotexit searches)."""
    advice = f"pass --data-dir DIR or set {ENV_VAR}=DIR to a folder that holds {spec.files[split]}"
    if spec.hub is None or split not in spec.hub.splits:
        return advice
    if found is not None:
        return f"{advice}, or run `cotexit data fetch {spec.name} --data-dir {found}` where the hub is reachable"
    return (
        f"{advice}, or run `cotexit data fetch {spec.name}` where the hub is reachable "
        f"(it writes to {user_data_dir()}, where cotexit looks)"
    )


def _from_file(spec: SuiteSpec, split: str, path: Path, found: Path | None, origin: str, limit: int | None) -> list[Problem]:
    if not path.is_file():
        if spec.file is not None:
            raise FileNotFoundError(f"suite file {spec.name!r} ({path}) not found")
        raise FileNotFoundError(
            f"no {spec.name} {split} file at {path} (data dir from {origin}); {_how_to_get(spec, split, found)}"
        )
    problems = []
    for index, (lineno, row) in enumerate(read_jsonl(path, limit)):
        try:
            problems.append(row_to_problem(spec, split, index, row))
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: {exc}") from exc
    if spec.file is not None and not problems:
        raise ValueError(f"suite file {path} holds no problems (one JSON object per line, with 'problem' and 'answer')")
    return problems


def _hub_rows(spec: SuiteSpec, split: str, failed: str, advice: str) -> Iterator[tuple[str | None, Mapping[str, Any]]]:
    """`(config, row)` for each raw row of the split's hub copy, configs in order.

    When the hub may not or cannot be asked (`cotexit.hub.offline_reason`) or
    does not answer: one `FileNotFoundError`, `failed` + what happened + `advice`.
    """
    assert spec.hub is not None and split in spec.hub.splits
    source = f"the hub copy {spec.hub.path}"
    reason = hub.offline_reason(hub.DATASET_VARIABLES)
    if reason is not None:
        raise FileNotFoundError(f"{failed}{source} was not tried: {reason}; {advice}")
    try:
        from datasets import load_dataset
    except ImportError as exc:
        raise FileNotFoundError(f"{failed}the `datasets` package, needed for {source}, is not installed; {advice}") from exc
    for config in spec.hub.configs:
        try:
            rows = load_dataset(spec.hub.path, config, split=spec.hub.splits[split])
        except OSError as exc:  # ConnectionError and the hub clients' HTTP errors are OSErrors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FileNotFoundError(f"{failed}{source} could not be loaded ({first}); {advice}") from exc
        for row in rows:
            yield config, row


def _from_hub(spec: SuiteSpec, split: str, limit: int | None) -> list[Problem]:
    failed = f"no {spec.name} {split} data: no data dir found (looked at {searched()}) and "
    if spec.hub is None or split not in spec.hub.splits:
        raise FileNotFoundError(f"{failed}the suite has no hub copy; {_how_to_get(spec, split)}")
    problems: list[Problem] = []
    for config, row in _hub_rows(spec, split, failed, _how_to_get(spec, split)):
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
    A file suite reads its own file; `data_dir` is not used.
    """
    spec = _spec(suite)
    split = spec.check_split(split)
    _check_limit(limit)
    if spec.is_generated:
        return _generated(spec, split, limit)
    if spec.file is not None:
        return _from_file(spec, split, Path(spec.file), None, "--suite", limit)
    found = find_data_dir(data_dir)
    if found is None:
        return _from_hub(spec, split, limit)
    return _from_file(spec, split, found.path / spec.files[split], found.path, found.origin, limit)


def fetch_suite(suite: str | SuiteSpec, data_dir: PathLike, splits: list[str] | None = None) -> list[tuple[str, Path, int]]:
    """Write the hub copy of `suite`'s `splits` (all it has on the hub when `None`) as the JSON-lines files
    `load_problems` reads under `data_dir`; `(split, file, rows)` for each file written.

    Every row of a split must map onto a `Problem` before its file is
    written, and each file is written whole or not at all. `ValueError` for a
    suite or split with no hub copy, `FileNotFoundError` when the hub may not
    or cannot be asked (nothing is tried then).
    """
    spec = _spec(suite)
    if spec.is_generated or spec.file is not None:
        kind = "generated" if spec.is_generated else "a local file"
        raise ValueError(f"suite {spec.name!r} is {kind}: there is nothing to fetch")
    on_hub = [s for s in spec.splits if spec.hub is not None and s in spec.hub.splits]
    chosen = on_hub if splits is None else [spec.check_split(s) for s in splits]
    missing = [s for s in chosen if s not in on_hub]
    if missing or not chosen:
        raise ValueError(
            f"suite {spec.name!r} has no hub copy of split(s) {', '.join(missing) or '-'}; "
            f"on the hub: {', '.join(on_hub) or 'none'}"
        )
    root = Path(data_dir).expanduser()
    written = []
    for split in chosen:
        advice = (
            f"fetch with the hub reachable and no HF_*_OFFLINE variable set, or copy {spec.files[split]} into {root} "
            "yourself"
        )
        rows = [dict(row) for _, row in _hub_rows(spec, split, f"cannot fetch {spec.name} {split}: ", advice)]
        for index, row in enumerate(rows):
            try:
                row_to_problem(spec, split, index, row)
            except ValueError as exc:
                raise ValueError(f"hub {spec.hub.path} {split} row {index}: {exc}; nothing written for it") from exc
        path = root / spec.files[split]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text("".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows), encoding="utf-8")
        tmp.replace(path)
        written.append((split, path, len(rows)))
    return written
