"""`cotexit toy train`: train the embedded toy model with a rich progress bar.

Owns the `toy` subcommand's parser and rendering; the training itself is
`cotexit.toy.train.train_toy`. Also runnable as `python -m cotexit.toy.cli`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace


def add_parser(subparsers) -> None:
    toy = subparsers.add_parser("toy", help="the embedded toy reasoning model")
    toy_sub = toy.add_subparsers(dest="toy_command", metavar="ACTION", required=True)
    train = toy_sub.add_parser("train", help="train the toy model from scratch (resumes from OUT/checkpoint.pt)")
    train.add_argument("--out", required=True, help="run folder; the model is written to OUT/model")
    train.add_argument("--minutes", type=float, default=40.0, help="wall-clock budget of the training loop")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    train.add_argument("--eval-problems", type=int, default=200, help="test problems for the final greedy eval")
    train.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from cotexit.toy.train import TrainConfig, train_toy

    config = replace(TrainConfig(), minutes=args.minutes, seed=args.seed, threads=args.threads,
                     eval_problems=args.eval_problems)
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]toy train"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console,
    ) as bar:
        task = bar.add_task("train", total=1.0, info="")

        def on_event(event: dict) -> None:
            if event.get("phase") == "eval":
                bar.update(task, completed=1.0, info="evaluating")
            else:
                bar.update(task, completed=event["frac"], info=f"step {event['step']} loss {event['loss']:.3f}")

        card = train_toy(args.out, config, progress=on_event)
    console.print_json(json.dumps({"eval": card["eval"], "layer_agreement": card["layer_agreement"]["per_layer"],
                                   "train_wall_seconds": card["train_wall_seconds"]}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cotexit")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
