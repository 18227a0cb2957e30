"""The `cotexit` command line: one parser, one subcommand module per verb.

Each module in `cotexit.cli` exposes `add_parser(subparsers)`, which adds its
subcommand and sets `func(args) -> int` as the handler. `main` maps the
project's expected errors (`ValueError`, `FileNotFoundError`,
`NotADirectoryError`: bad input, options or files) to one red line on stderr
and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from cotexit.version import __version__
from cotexit.cli import interrupt
from cotexit.cli.interrupt import Interrupted
from cotexit.cli import analyze, audit, bench, calibrate, calibrate_depth, calibrate_joint, collect, data, doctor, grade, models, serve, solve, verify
from cotexit.toy import cli as toy

err_console = Console(stderr=True)

SUBCOMMANDS = (solve, bench, collect, calibrate, calibrate_depth, calibrate_joint, analyze, audit, serve, models, doctor, verify, data, grade, toy)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cotexit",
        description="Early exit for reasoning models: stop thinking when the answer is known, "
        "skip layers a token does not need, and report both savings.",
    )
    parser.add_argument("--version", action="version", version=f"cotexit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(prepare_argv(list(sys.argv[1:] if argv is None else argv)))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as exc:
        err_console.print(f"[yellow]{escape(str(exc)) if isinstance(exc, Interrupted) else 'interrupted'}[/yellow]", highlight=False)
        return 130
    except (ValueError, FileNotFoundError, NotADirectoryError) as exc:
        if interrupt.pressed():  # raised while the interrupt unwound (an import cut short, say): not the user's input
            err_console.print("[yellow]interrupted[/yellow]")
            return 130
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    except Exception:
        if interrupt.pressed():
            err_console.print("[yellow]interrupted[/yellow]")
            return 130
        raise


def prepare_argv(argv: list[str]) -> list[str]:
    """`argv` with `grade`'s answers behind a `--`, so that '-\\infty' reads as an answer, not an option."""
    command = next((i for i, arg in enumerate(argv) if not arg.startswith("-")), None)  # global options take no value
    if command is None or argv[command] != grade.NAME:
        return argv
    return [*argv[: command + 1], *grade.protect_answers(argv[command + 1 :])]


if __name__ == "__main__":
    sys.exit(main())
