"""`cotexit analyze`: how much depth a model could skip on a suite's texts, and how suitable it is for depth exits."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from cotexit.benchmarks.loading import data_file_sha256, source_path
from cotexit.benchmarks.provenance import provenance
from cotexit.cli.common import add_model_args, load_for_cli
from cotexit.depth.analysis.metrics import DEFAULT_CHUNK, DEFAULT_TOP_K
from cotexit.depth.analysis.plots import write_plots
from cotexit.depth.analysis.report import AnalysisReport
from cotexit.depth.analysis.run import AnalysisConfig, analyze

console = Console()


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "analyze",
        help="layer-to-final agreement, oracle earliest exit and depth-exit suitability of a model on a suite",
        description="Teacher-force a suite's gold solutions and/or the model's own greedy replies, compare "
        "every layer's prediction (final norm + LM head) with the final one at each reply token, and write "
        "DIR/analysis.json, DIR/curves.png and DIR/oracle.png.",
    )
    parser.add_argument(
        "--suite",
        required=True,
        help="gsm8k, math, math500, aime24, aime25, amc23, arith, or FILE.jsonl: your own problems, "
        "one JSON object per line with 'problem' and 'answer' fields",
    )
    parser.add_argument("--split", help="split to use (default: the suite's test split)")
    parser.add_argument("--limit", type=int, help="first N problems of the split (default: all)")
    parser.add_argument(
        "--text",
        choices=["gold", "generated", "both"],
        help="gold solutions (gsm8k, math, math500, aime24), the model's greedy replies, or both "
        "(default: gold where the suite has it, else generated)",
    )
    parser.add_argument("--max-new-tokens", type=int, default=256, help="budget of generated replies (default: 256)")
    parser.add_argument("--batch-size", type=int, default=8, help="problems decoded together (default: 8)")
    parser.add_argument(
        "--top-k", type=int, default=DEFAULT_TOP_K, help=f"K of the top-K overlap (default: {DEFAULT_TOP_K})"
    )
    parser.add_argument(
        "--chunk-size", type=int, default=DEFAULT_CHUNK, help=f"positions per LM-head chunk (default: {DEFAULT_CHUNK})"
    )
    parser.add_argument("--out", default="runs/analysis", help="output folder (default: runs/analysis)")
    parser.add_argument("--data-dir", help="benchmark data folder (default: $COTEXIT_DATA_DIR or ../shared/data)")
    add_model_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = AnalysisConfig(  # bad suite, options or missing gold text fail before the model loads
        suite=args.suite,
        split=args.split,
        limit=args.limit,
        text=args.text,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        top_k=args.top_k,
        chunk_size=args.chunk_size,
        data_dir=args.data_dir,
    )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {args.out!r} is a file; give a folder")
    console.print(text_line(config, chosen=args.text is not None), highlight=False, soft_wrap=True)
    lm = load_for_cli(args)
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    report: AnalysisReport | None = None
    with Progress(*columns, console=console) as progress:
        tasks: dict[tuple[str, str], int] = {}
        for event in analyze(lm, config):
            if event.report is not None:
                report = event.report
                continue
            key = (event.stage, event.kind)
            if key not in tasks:
                tasks[key] = progress.add_task(f"{event.stage} {event.kind}", total=event.total)
            progress.update(tasks[key], total=event.total, completed=event.done)
    assert report is not None, "analyze ended without a report"
    source = source_path(config.suite, config.split, config.data_dir)
    data = {"file": str(source), "sha256": data_file_sha256(source)} if source and source.is_file() else {}
    run_config = {
        **config.to_json(),
        "model": args.model,
        "dtype": args.dtype,
        "device": args.device,
        "command": shlex.join(["cotexit", *sys.argv[1:]]),
    }
    report = dataclasses.replace(report, provenance=provenance(run_config, data))
    path = report.write(out)
    plots = write_plots(report.to_json(), out)
    console.print(summary_table(report))
    console.print(f"analysis: {path}  plots: {', '.join(str(p) for p in plots)}")
    return 0


def text_line(config: AnalysisConfig, *, chosen: bool) -> str:
    """Which texts the run analyses, and why: `--text`, or the suite's default."""
    if chosen:
        return f"text: {config.text} (--text)"
    has = "has" if config.text == "gold" else "has no"
    return f"text: {config.text} (the default: {config.suite} {has} gold solutions; --text to choose)"


def summary_table(report: AnalysisReport) -> Table:
    table = Table(title=f"{report.suite} · {report.model['model']} · {report.num_layers} layers")
    table.add_column("metric")
    for kind in report.texts:
        table.add_column(kind, justify="right")
    rows = [
        ("problems", lambda t: str(t.n_problems)),
        ("reply tokens", lambda t: str(t.n_tokens)),
        ("suitability", lambda t: f"{t.suitability.score:.3f}"),
        ("oracle depth savings", lambda t: f"{t.oracle.depth_savings:.1%}"),
        ("mean oracle layer", lambda t: f"{t.oracle.mean_layer:.2f}"),
        ("mean exit similarity", lambda t: f"{t.suitability.mean_exit_similarity:.3f}"),
        ("mean top-1 agreement", lambda t: f"{t.mean_agreement:.3f}"),
        ("final top-1 = text", lambda t: f"{t.final_top1_matches_text:.1%}"),
    ]
    for name, cell in rows:
        table.add_row(name, *(cell(t) for t in report.texts.values()))
    return table
