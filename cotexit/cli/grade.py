"""`cotexit grade GOLD PRED`: say whether a predicted answer equals the gold one.

Exit code 0 when equivalent, 1 when not, so shell scripts can test it. The
comparison is `cotexit.benchmarks.grading.is_equivalent`; with `--extract`,
PRED is a whole response whose final answer `extract_answer` finds first.

    cotexit grade '\\frac{1}{2}' '0.5'       # equivalent, exit 0
    cotexit grade 3 4                        # not equivalent, exit 1
    cotexit grade '-\\infty' '-\\infty'       # answers may start with '-'

Answers are free text, so `protect_answers` puts `--` before them (the CLI
entry point applies it to this subcommand's arguments): argparse would
otherwise read '-\\infty' as an unknown option.
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape

from cotexit.benchmarks.extraction import extract_answer
from cotexit.benchmarks.grading import is_equivalent

NAME = "grade"
_LONG_OPTIONS = ("--extract", "--help")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        NAME,
        help="say whether a predicted answer equals the gold one (exit 0 if so, 1 if not)",
        description="Compare a predicted answer with the gold answer: numbers within a relative 1e-6, "
        "LaTeX through math-verify. Exit code 0 when equivalent, 1 when not. "
        "Answers may start with '-' (e.g. '-\\infty'); a `--` before them is accepted too.",
    )
    parser.add_argument("gold", metavar="GOLD", help="the reference answer, e.g. '\\frac{1}{2}' or '025'")
    parser.add_argument("pred", metavar="PRED", help="the predicted answer (or a whole response with --extract)")
    parser.add_argument(
        "--extract",
        action="store_true",
        help="read PRED as a full response and grade its final answer (last \\boxed{}, '#### N', "
        "'answer is X' or last number)",
    )
    parser.set_defaults(func=run)
    return parser


def protect_answers(argv: list[str]) -> list[str]:
    """This subcommand's arguments with its options first, then `--`, then the answers.

    Everything after an explicit `--` is an answer already; before it, only `-h`,
    `--help`, `--extract` and their unambiguous prefixes are options.

    >>> protect_answers(["-inf", "-inf", "--extract"])
    ['--extract', '--', '-inf', '-inf']
    """
    split = argv.index("--") if "--" in argv else len(argv)
    head, tail = argv[:split], argv[split + 1 :]
    options = [arg for arg in head if _is_option(arg)]
    answers = [arg for arg in head if not _is_option(arg)]
    return [*options, "--", *answers, *tail]


def _is_option(arg: str) -> bool:
    if arg == "-h":
        return True
    matches = [name for name in _LONG_OPTIONS if len(arg) > 2 and name.startswith(arg)]
    return len(matches) == 1


def run(args: argparse.Namespace) -> int:
    console = Console()
    pred = args.pred
    if args.extract:
        pred = extract_answer(args.pred)
        shown = "nothing" if pred is None else escape(repr(pred))
        console.print(f"extracted answer: {shown}", highlight=False)
    equivalent = is_equivalent(args.gold, pred)
    console.print("[green]equivalent[/green]" if equivalent else "[red]not equivalent[/red]")
    return 0 if equivalent else 1
