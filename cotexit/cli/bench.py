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
from cotexit.cli.common import add_decode_args, add_source_args, add_model_args, cue_config, decode_config, load_for_cli, taken_note
from cotexit.cli.exits import add_exit_args, build_treatment, exit_settings, fill_run_defaults, probe_cues
from cotexit.cli.guarantee_view import guarantee_grid, uncovered_warning
from cotexit.cli import interrupt
from cotexit.cli.interrupt import interrupt_note
from cotexit.cli.outdir import default_out, exits_tag
from cotexit.experiments.live_check import LiveCheck
from cotexit.experiments.runner import BenchConfig, prepare_bench, run_prepared

console = Console()


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bench",
        help="solve a benchmark suite and report accuracy and thinking tokens",
        description="Solve problems of a suite, write DIR/results.jsonl (one line per problem) and "
        "DIR/summary.json, and print the summary. Rerunning the same command (or with the same --out) "
        "resumes: finished problems are skipped. With --exit or --probe, decoding options left out take the "
        "probe's calibrated values, so the run is one its guarantee covers. With --prompts no gold answer is "
        "read: an exit run reports the thinking tokens saved and how often the exit changed the answer.",
    )
    add_source_args(parser, suites="gsm8k, math, math500, aime24, aime25, amc23, arith")
    parser.add_argument("--split", help="split to run (default: the suite's test split)")
    parser.add_argument("--limit", type=int, help="first N problems of the split (default: all)")
    parser.add_argument(
        "--out",
        help="output folder (default: runs/bench/<suite>-<model>-<exits>-<decoding>-<hash of the settings>: one folder "
        "per settings, so the same command resumes and another never collides)",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="problems decoded together (default: 8)")
    parser.add_argument("--data-dir", help="benchmark data folder (default: $COTEXIT_DATA_DIR or ../shared/data)")
    add_model_args(parser)
    add_backend_arg(parser)
    add_decode_args(parser, max_new_tokens=1024, from_probe=True)
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
    if args.suite is not None:
        get_suite(args.suite)  # fail on a bad suite name before loading a model
    elif args.sweep:
        raise ValueError("--sweep compares accuracies, which need gold answers: give --suite, not --prompts")
    check_backend_args(args)
    if args.sweep and args.backend == "generate":
        raise ValueError("--sweep runs on --backend hf or vllm (its trials at every cue are a `collect` run)")
    if note := taken_note(args, fill_run_defaults(args)):  # decoding left out: the probe's calibration settings
        console.print(note, highlight=False)
    if args.sweep:
        from cotexit.cli.sweep import run_sweep

        if args.out is None:
            exits = exit_settings(args)
            settings = {"suite": args.suite, "split": args.split, "model": args.model, "backend": args.backend,
                        "decode": decode_config(args).to_json(), "cues": args.cues, "exits": exits,
                        "budgets": args.sweep_budgets}
            args.out = default_out("bench", args.suite, args.model, settings, exits=exits_tag(exits, shipped_probe=args.exit),
                                   temperature=args.temperature, backend=args.backend, kind="sweep")
        return run_sweep(args)
    config = BenchConfig(
        suite=args.suite,
        prompts=args.prompts,
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
    if args.out is None:
        args.out = default_out("bench", args.suite or Path(args.prompts).stem, args.model, config.settings(),
                               exits=exits_tag(config.exits, shipped_probe=args.exit),
                               temperature=args.temperature, backend=args.backend)
    prepared = prepare_bench(config, args.out)  # bad data, --out or changed settings fail before the model loads
    lm = load_for_cli(args)
    treatment = build_treatment(args, lm)
    if warning := uncovered_warning(treatment and treatment.guarantee):
        console.print(warning, highlight=False)
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("acc {task.fields[acc]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console) as progress, interrupt_note(prepared.out_dir, lambda: len(prepared.results.rows)):
        task = progress.add_task(args.suite or args.prompts, total=None, acc="-")
        wanted = {p.id for p in prepared.problems}  # the live check of the bound, fed as summary.json's will be
        live = LiveCheck.for_guarantee(treatment and treatment.guarantee, [r for r in prepared.results.rows if r["id"] in wanted])
        for event in run_prepared(lm, prepared, treatment=treatment):
            interrupt.check()  # a Ctrl-C that Python swallowed inside a callback is raised here
            acc = f"{event.correct_so_far / event.done:.1%}" if event.done and args.prompts is None else "-"
            progress.update(task, total=event.total, completed=event.done, acc=acc)
            if event.result is None and event.skipped:
                progress.console.print(f"resuming: {event.skipped} problem(s) already in {args.out}")
            if live is not None and event.result is not None and live.add(event.result.to_json()):
                progress.console.print(f"[red]warning:[/red] live check: {live.message()}", highlight=False)
    summary = json.loads((Path(args.out) / "summary.json").read_text())
    console.print(summary_table(summary))
    if (grid := guarantee_grid(summary)) is not None:
        console.print(grid)
    print_shift_check(summary)
    console.print(f"results: {Path(args.out) / 'results.jsonl'}  summary: {Path(args.out) / 'summary.json'}")
    return 0


def print_shift_check(summary: dict) -> None:
    """What the first-cue score test found (the settings were compared, and warned about, before the run)."""
    scores = (summary.get("shift_check") or {}).get("scores")
    if scores:
        style = "[yellow]warning:[/yellow] " if scores["shifted"] else "[dim]shift check: "
        console.print(style + scores["message"] + ("" if scores["shifted"] else "[/dim]"), highlight=False)


def summary_table(summary: dict) -> Table:
    backend = summary.get("backend", "hf")
    source = summary["suite"] or summary.get("prompts")
    table = Table(title=f"{source} · {summary['model']} · {backend}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    graded = summary.get("accuracy") is not None
    rows = [
        ("problems", f"{summary['n']}"),
        ("accuracy", f"{summary['accuracy']:.1%}" if graded else "- (no gold answer read)"),
        ("mean thinking tokens", f"{summary['mean_thinking_tokens']:.1f}"),
        ("mean total tokens", f"{summary['mean_total_tokens']:.1f}"),
        ("mean cues", f"{summary['mean_cues']:.2f}"),
        ("wall time", f"{summary['wall_s']:.1f} s"),
        ("tokens / s", f"{summary['tokens_per_s']:.1f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    if "mean_thinking_tokens_full" in summary:
        table.add_section()
        paired = [
            *([("accuracy: full / with exits", f"{summary['accuracy_full']:.1%} / {summary['accuracy_exit']:.1%}")]
              if "accuracy_full" in summary else []),
            *_change_rows(summary),
            ("thinking tokens: full / with exits",
             f"{summary['mean_thinking_tokens_full']:.1f} / {summary['mean_thinking_tokens_exit']:.1f}"),
            *_saved_rows(summary),
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
        exact = summary.get("acceptance_rate") is not None
        if exact and (summary.get("compute_saved_pct", 0) < 0 or summary.get("depth_saved_pct", 0) < 0):
            table.add_row("why savings are negative", DRAFT_COST_NOTE)
    return table


DRAFT_COST_NOTE = (
    "exact layer exit drafts tokens and then verifies every draft with the full stack, so it runs more blocks "
    "than the full run (rejected drafts included) while needing fewer sequential passes: it saves wall-clock, "
    "not FLOPs"
)


def _change_rows(summary: dict) -> list[tuple[str, str]]:
    """How often the exits changed the answer of the plain run, with its 95% interval (what answer-change bounds)."""
    event = (summary.get("empirical") or {}).get("answer_change_events")
    if not event:
        return []
    low, high = event["ci95"]
    return [("answer changed by the exits", f"{event['rate']:.1%} of {event['n']} [95%: {low:.1%}, {high:.1%}]")]


def _saved_rows(summary: dict) -> list[tuple[str, str]]:
    """Thinking tokens saved; a baseline's trial tokens (DEER, consistency) are paid tokens and counted."""
    trials = summary.get("mean_trial_tokens_exit", 0.0)
    if not trials:
        return [("thinking tokens saved", f"{summary['tokens_saved_pct']:.1f}%")]
    full = summary["mean_thinking_tokens_full"]
    net = 100.0 * (1 - (summary["mean_thinking_tokens_exit"] + trials) / full) if full else 0.0
    return [
        ("trial tokens per problem", f"{trials:.1f}"),
        ("thinking tokens saved, trials counted", f"{net:.1f}% (without the trials {summary['tokens_saved_pct']:.1f}%)"),
    ]
