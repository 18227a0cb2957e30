"""`cotexit models list|fetch`: the registered model names and their local copies."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from cotexit.models.registry import all_entries, get_entry, unknown_model_message

console = Console()


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("models", help="list or fetch registered models", description="Registered model names.")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    verbs.add_parser("list", help="show registered models and whether they are fetched").set_defaults(func=run_list)
    fetch = verbs.add_parser("fetch", help="download and convert a registered model into the cache")
    fetch.add_argument("name", help="a registered model name")
    fetch.set_defaults(func=run_fetch)


def run_list(args: argparse.Namespace) -> int:
    table = Table(title="registered models")
    for column in ("name", "fetched", "thinking format", "source", "description"):
        table.add_column(column)
    for entry in all_entries():
        table.add_row(entry.name, "yes" if entry.is_fetched() else "no", entry.thinking_format, entry.source, entry.description)
    console.print(table)
    console.print("Any local model folder or hub id also works with --model.")
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    entry = get_entry(args.name)
    if entry is None:
        raise ValueError(unknown_model_message(args.name))
    path = entry.fetch(lambda msg: console.print(f"[dim]{msg}[/dim]"))
    console.print(f"{entry.name}: {path}")
    return 0
