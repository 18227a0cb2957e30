"""`cotexit bench`: solve a benchmark suite, resumably, and print the summary."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from cotexit.benchmarks.suites import get_suite
from cotexit.cli.backend import add_backend_arg, check_backend_args, vllm_options
from cotexit.cli.common import add_decode_args, add_model_args, cue_config, decode_config, load_for_cli
from cotexit.cli.exits import add_exit_args, build_treatment, exit_settings, probe_cues
from cotexit.experiments.runner import BenchConfig, prepare_bench, run_prepared

console = Console()


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bench",
        help="solve a benchmark suite and report accuracy and thinking tokens",
        description="Solve problems of a suite, write DIR/results.jsonl (one line per problem) and "
        "DIR/summary.json, and print the summary. Rerunning with the same --out resumes: finished "
        "problems are skipped.",
    )
    parser.add_argument("--suite", required=True, help="gsm8k, math, math500, aime24, aime25, amc23, arith")
    parser.add_argument("--split", help="split to run (default: the suite's test split)")
    parser.add_argument("--limit", type=int, help="first N problems of the split (default: all)")
    parser.add_argument("--out", default="runs/bench", help="output folder (default: runs/bench)")
    parser.add_argument("--batch-size", type=int, default=8, help="problems decoded together (default: 8)")
    parser.add_argument("--data-dir", help="benchmark data folder (default: $COTEXIT_DATA_DIR or ../shared/data)")
    add_model_args(parser)
    add_backend_arg(parser)
    add_decode_args(parser, max_new_tokens=1024)
    add_exit_args(parser)
    sweep = parser.add_argument_group("Pareto sweep")
    sweep.add_argument(
        "--sweep",
        action="store_true",
        help="instead of a paired run: one full run per problem with forced answers at every cue, then the probe at "
        "every calibrated level, DEER, answer consistency and budgets evaluated on it; writes OUT/sweep.csv and OUT/pareto.png",
    )
    sweep.add_argument(
        "--sweep-budgets",
        help="thinking-token budgets for the budget baseline (default: those of existing --sweep-data, else 32,64,128,256)",
    )
    sweep.add_argument("--sweep-data", help="where the full runs with trials are kept (default: OUT/sweep-data); resumable")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    get_suite(args.suite)  # fail on a bad suite name before loading a model
    check_backend_args(args)
    if args.sweep and args.backend == "generate":
        raise ValueError("--sweep runs on --backend hf or vllm (its trials at every cue are a `collect` run)")
    if args.sweep:
        from cotexit.cli.sweep import run_sweep

        return run_sweep(args)
    config = BenchConfig(
        suite=args.suite,
        model=args.model,
        split=args.split,
        limit=args.limit,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
        decode=decode_config(args),
        cues=cue_config(args, probe_cues(args)),  # a probe runs on its own cues unless --cues says
        exits=exit_settings(args),
        backend=args.backend,
        engine=options.to_json() if (options := vllm_options(args)) is not None else {},
    )
    prepared = prepare_bench(config, args.out)  # bad data, --out or changed settings fail before the model loads
    lm = load_for_cli(args)
    treatment = build_treatment(args, lm)
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("acc {task.fields[acc]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"{args.suite}", total=None, acc="-")
        for event in run_prepared(lm, prepared, treatment=treatment):
            acc = f"{event.correct_so_far / event.done:.1%}" if event.done else "-"
            progress.update(task, total=event.total, completed=event.done, acc=acc)
            if event.result is None and event.skipped:
                progress.console.print(f"resuming: {event.skipped} problem(s) already in {args.out}")
    summary = json.loads((Path(args.out) / "summary.json").read_text())
    console.print(summary_table(summary))
    print_guarantee_notes(summary)
    console.print(f"results: {Path(args.out) / 'results.jsonl'}  summary: {Path(args.out) / 'summary.json'}")
    return 0


def print_guarantee_notes(summary: dict) -> None:
    """Say when the probe's guarantee does not cover the run, and what the shift check found."""
    guarantee = summary.get("guarantee") or {}
    if guarantee.get("covers_run") is False:
        console.print(f"[yellow]warning:[/yellow] the guarantee does not cover this run: {guarantee['coverage']}", highlight=False)
    shift = summary.get("shift_check")
    if shift:
        style = "[yellow]warning:[/yellow] " if shift["shifted"] else "shift check: "
        console.print(style + shift["message"], highlight=False)


def summary_table(summary: dict) -> Table:
    backend = summary.get("backend", "hf")
    table = Table(title=f"{summary['suite']} · {summary['model']} · {backend}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("problems", f"{summary['n']}"),
        ("accuracy", f"{summary['accuracy']:.1%}"),
        ("mean thinking tokens", f"{summary['mean_thinking_tokens']:.1f}"),
        ("mean total tokens", f"{summary['mean_total_tokens']:.1f}"),
        ("mean cues", f"{summary['mean_cues']:.2f}"),
        ("wall time", f"{summary['wall_s']:.1f} s"),
        ("tokens / s", f"{summary['tokens_per_s']:.1f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    if "accuracy_full" in summary:
        table.add_section()
        paired = [
            ("accuracy: full / with exits", f"{summary['accuracy_full']:.1%} / {summary['accuracy_exit']:.1%}"),
            ("thinking tokens: full / with exits",
             f"{summary['mean_thinking_tokens_full']:.1f} / {summary['mean_thinking_tokens_exit']:.1f}"),
            ("thinking tokens saved", f"{summary['tokens_saved_pct']:.1f}%"),
            ("exit rate", f"{summary['exit_rate']:.1%}"),
            ("compute saved (FLOPs, est.)", f"{summary['compute_saved_pct']:.1f}%"),
        ]
        if summary.get("wall_speedup"):
            paired.append(("wall-clock speedup", f"{summary['wall_speedup']:.2f}x"))
        if "mean_layers_per_token" in summary:
            paired += [
                (
                    "layers per token" if summary.get("acceptance_rate") is None else "blocks run per token (drafts too)",
                    f"{summary['mean_layers_per_token']:.2f}",
                ),
                ("depth saved", f"{summary['depth_saved_pct']:.1f}%"),
                ("token disagreement", f"{summary['token_disagreement']:.2%} of tokens, "
                 f"{summary['token_disagreement_per_problem']:.2%} per problem (mean)"),
                *(
                    [("disagreement reading the full text", f"{summary['token_disagreement_on_full_text']:.2%} per problem (mean)")]
                    if "token_disagreement_on_full_text" in summary
                    else []
                ),
                ("same text as full run", f"{summary['same_text_as_full']:.1%}"),
                ("answer changed from the full run's", f"{summary['answer_changed']:.1%}"),
            ]
            if summary.get("acceptance_rate") is not None:
                paired.append(("draft acceptance", f"{summary['acceptance_rate']:.1%}"))
                for source in ("layer", "context"):
                    proposed, accepted = summary.get(f"drafted_{source}", 0), summary.get(f"accepted_{source}", 0)
                    if proposed:
                        paired.append((f"{source} drafts: accepted / proposed", f"{accepted} / {proposed}"))
        for name, value in paired:
            table.add_row(name, value)
    return table
