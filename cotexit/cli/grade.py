"""`cotexit grade GOLD PRED`: say whether a predicted answer equals the gold one.

Exit code 0 when equivalent, 1 when not, so shell scripts can test it. The
comparison is `cotexit.benchmarks.grading.is_equivalent`; with `--extract`,
PRED is a whole response whose final answer `extract_answer` finds first.

    cotexit grade '\\frac{1}{2}' '0.5'       # equivalent, exit 0
    cotexit grade 3 4                        # not equivalent, exit 1
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape

from cotexit.benchmarks.extraction import extract_answer
from cotexit.benchmarks.grading import is_equivalent


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "grade",
        help="say whether a predicted answer equals the gold one (exit 0 if so, 1 if not)",
        description="Compare a predicted answer with the gold answer: numbers within a relative 1e-6, "
        "LaTeX through math-verify. Exit code 0 when equivalent, 1 when not. "
        "Put `--` before answers that start with '-'.",
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
