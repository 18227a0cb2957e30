"""`cotexit data list|check|fetch`: what benchmarks exist, whether the local files are sound, and getting them.

`list` shows every registered suite, its splits and where their rows come
from, with row counts for the files found locally. `check` runs
`cotexit.benchmarks.datacheck.check_data` over the data folder and renders
the report; it exits 1 when a file is malformed, has the wrong row count, or
holds a gold answer that fails to grade equal to itself or its reformatted
copy without a recorded explanation. `fetch` writes a suite's hub copy as
the JSON-lines files cotexit reads (`cotexit.benchmarks.loading.fetch_suite`),
by default into the user's data folder, which cotexit searches.

    cotexit data list
    cotexit data check --data-dir ../shared/data
    cotexit data fetch gsm8k
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cotexit import hub
from cotexit.benchmarks.datacheck import DataReport, FileReport, check_data
from cotexit.benchmarks.datadir import ENV_VAR, DataDir, find_data_dir, searched, user_data_dir
from cotexit.benchmarks.loading import fetch_suite
from cotexit.benchmarks.suites import SUITES, SuiteSpec


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "data",
        help="list benchmark suites, check the local benchmark files, fetch them from the hub",
        description="List the benchmark suites, check that every local benchmark file loads, "
        "has the expected number of rows, and that its gold answers grade as correct, or fetch a suite's "
        "files from the Hugging Face hub.",
    )
    actions = parser.add_subparsers(dest="data_action", metavar="ACTION", required=True)
    data_dir_help = f"folder holding the benchmark files (default: ${ENV_VAR}, else ../shared/data)"
    listing = actions.add_parser("list", help="list suites, splits and local row counts")
    listing.add_argument("--data-dir", default=None, help=data_dir_help)
    check = actions.add_parser("check", help="load every local file and grade every gold answer against itself")
    check.add_argument("--data-dir", default=None, help=data_dir_help)
    check.add_argument(
        "--suite", action="append", default=None, metavar="NAME", help="check only this suite (repeatable)"
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    fetch = actions.add_parser(
        "fetch",
        help="write a suite's hub copy as the JSON-lines files cotexit reads (needs a network)",
        description="Download a suite from the Hugging Face hub (through `datasets`) and write it as JSON lines "
        "where cotexit finds it.",
    )
    fetch.add_argument("suite", metavar="SUITE", help="a suite with a hub copy: " + ", ".join(
        sorted(n for n, spec in SUITES.items() if spec.hub is not None)))
    fetch.add_argument("--split", action="append", default=None, help="fetch only this split (repeatable; default: all)")
    fetch.add_argument(
        "--data-dir", default=None, help=f"folder to write into (default: ${ENV_VAR}, else {user_data_dir()})"
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    console = Console()
    if args.data_action == "list":
        return _list(console, find_data_dir(args.data_dir))
    if args.data_action == "check":
        return _check(console, args)
    if args.data_action == "fetch":
        return _fetch(console, args)
    raise ValueError(f"unknown data action {args.data_action!r}; allowed: list, check, fetch")


def _count_rows(path: Path) -> int:
    with open(path, encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def _source(spec: SuiteSpec, split: str, found: DataDir | None) -> tuple[str, str]:
    """(where the split's rows come from, its local row count or a dash)."""
    if spec.is_generated:
        return "generated", "-"
    if found is not None:
        path = found.path / spec.files[split]
        if path.is_file():
            return spec.files[split], str(_count_rows(path))
        return f"{spec.files[split]} [red](missing)[/red]", "-"
    hub = spec.hub.path if spec.hub is not None and split in spec.hub.splits else "none"
    return f"hub: {hub}", "-"


def _list(console: Console, found: DataDir | None) -> int:
    offline = hub.offline_setting(hub.DATASET_VARIABLES)
    hub_note = f"and the hub is not asked ({offline})" if offline else "suites load from the Hugging Face hub"
    where = f"{found.path} ({found.origin})" if found else f"none found, {hub_note}; looked at {searched()}"
    console.print(f"data dir: {escape(where)}", highlight=False)
    table = Table("suite", "split", "source", "rows", "expected", "prompt")
    for name in sorted(SUITES):
        spec = SUITES[name]
        for split in spec.splits:
            source, rows = _source(spec, split, found)
            expected = spec.expected_rows.get(split)
            default = " (default)" if split == spec.default_split else ""
            table.add_row(name, split + default, source, rows, "-" if expected is None else str(expected), spec.prompt)
    console.print(table)
    return 0


def _passed(count: int, rows: int) -> str:
    style = "green" if count == rows else "red"
    return f"[{style}]{count}/{rows}[/{style}]"


def _notes(report: FileReport) -> str:
    notes = []
    if report.error:
        notes.append("[red]error (below)[/red]")
    if report.unexplained_count:
        notes.append(f"[red]{report.unexplained_count} unexplained failure(s)[/red]")
    explained = report.failure_count - report.unexplained_count
    if explained:
        notes.append(f"[yellow]{explained} explained failure(s)[/yellow]")
    if report.notes:
        notes.append(f"{len(report.notes)} note(s) below")
    return ", ".join(notes)


def _render(console: Console, report: DataReport, origin: str) -> None:
    console.print(f"data dir: {escape(report.data_dir)} ({escape(origin)})", highlight=False)
    table = Table("suite", "split", "file", "rows", "self-graded", "reformatted", "notes")
    for file in report.files:
        rows = str(file.rows) if file.count_ok else f"[red]{file.rows}/{file.expected_rows}[/red]"
        loaded = file.error is None or file.rows > 0
        table.add_row(
            file.suite,
            file.split,
            escape(Path(file.path).relative_to(report.data_dir).as_posix()),
            rows if loaded else "[red]-[/red]",
            _passed(file.self_passed, file.rows) if loaded else "-",
            _passed(file.reformatted_passed, file.rows) if loaded else "-",
            _notes(file),
        )
    console.print(table)
    for file in report.files:
        for note in file.notes:
            console.print(f"[dim]{file.suite} {file.split}:[/dim] {escape(note)}", highlight=False)
        if file.error:
            console.print(f"[red]{file.suite} {file.split}:[/red] {escape(file.error)}", highlight=False)
        for failure in file.failures:
            style = "yellow" if failure.explained else "red"
            console.print(
                f"[{style}]{escape(failure.problem_id)}[/{style}] ({failure.check}): gold {escape(repr(failure.gold))} "
                f"vs {escape(repr(failure.candidate))}: {escape(failure.reason)}",
                highlight=False,
            )
    if report.missing:
        console.print(f"[dim]not found: {escape(', '.join(report.missing))}[/dim]", highlight=False)
    verdict = "[green]ok[/green]" if report.ok else "[red]problems found[/red]"
    console.print(f"{verdict}: {report.rows} rows in {len(report.files)} files, checked in {report.seconds:.1f} s")


def _check(console: Console, args: argparse.Namespace) -> int:
    found = find_data_dir(args.data_dir)
    if found is None:
        raise FileNotFoundError(
            f"no data dir found (looked at {searched()}): pass --data-dir DIR or set {ENV_VAR}=DIR "
            "(the check reads local files only; `cotexit data fetch SUITE` gets them where the hub is reachable)"
        )
    report = check_data(found.path, suites=args.suite)
    if args.json:
        console.print_json(json.dumps(report.to_json()))
    else:
        _render(console, report, found.origin)
    return 0 if report.ok else 1


def _fetch(console: Console, args: argparse.Namespace) -> int:
    if args.data_dir:
        target, origin = Path(args.data_dir).expanduser(), "--data-dir"
    elif os.environ.get(ENV_VAR, "").strip():
        target, origin = Path(os.environ[ENV_VAR].strip()).expanduser(), f"${ENV_VAR}"
    else:
        target, origin = user_data_dir(), "the user's data folder"
    with console.status(f"fetching {escape(args.suite)} from the hub into {escape(str(target))} ({origin}) ..."):
        written = fetch_suite(args.suite, target, args.split)
    for split, path, rows in written:
        console.print(f"{split}: {rows} rows -> {escape(str(path))}", highlight=False, soft_wrap=True)
    found = find_data_dir()
    if found is None or found.path.resolve() != target.resolve():
        reads = f"reads {found.path} ({found.origin}) first" if found is not None else "does not find it by itself"
        console.print(
            f"[yellow]note:[/yellow] cotexit {escape(reads)}: pass --data-dir {escape(str(target))} "
            f"or set {ENV_VAR}={escape(str(target))} to use these files",
            highlight=False,
            soft_wrap=True,
        )
    return 0
