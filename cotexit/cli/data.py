"""`cotexit data list|check`: what benchmarks exist and whether the local files are sound.

`list` shows every registered suite, its splits and where their rows come
from, with row counts for the files found locally. `check` runs
`cotexit.benchmarks.datacheck.check_data` over the data folder and renders
the report; it exits 1 when a file is malformed, has the wrong row count, or
holds a gold answer that fails to grade equal to itself or its reformatted
copy without a recorded explanation.

    cotexit data list
    cotexit data check --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cotexit.benchmarks.datacheck import DataReport, FileReport, check_data
from cotexit.benchmarks.datadir import ENV_VAR, DataDir, find_data_dir
from cotexit.benchmarks.suites import SUITES, SuiteSpec


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "data",
        help="list benchmark suites and check the local benchmark files",
        description="List the benchmark suites, or check that every local benchmark file loads, "
        "has the expected number of rows, and that its gold answers grade as correct.",
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
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    console = Console()
    if args.data_action == "list":
        return _list(console, find_data_dir(args.data_dir))
    if args.data_action == "check":
        return _check(console, args)
    raise ValueError(f"unknown data action {args.data_action!r}; allowed: list, check")


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
    where = f"{found.path} ({found.origin})" if found else "none found: suites load from the Hugging Face hub"
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
            f"no data dir found: pass --data-dir or set ${ENV_VAR} (the check reads local files only)"
        )
    report = check_data(found.path, suites=args.suite)
    if args.json:
        console.print_json(json.dumps(report.to_json()))
    else:
        _render(console, report, found.origin)
    return 0 if report.ok else 1
