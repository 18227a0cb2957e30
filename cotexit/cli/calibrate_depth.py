"""`cotexit calibrate-depth`: choose the layer-exit threshold with a bound on token disagreement or answer changes."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.progress import Progress

from cotexit.benchmarks.loading import load_problems
from cotexit.benchmarks.prompts import build_prompt
from cotexit.calibration.digits import format_threshold
from cotexit.calibration.pvalues import min_samples
from cotexit.calibration.shortfall import looser_levels
from cotexit.cli.common import add_model_args, load_for_cli
from cotexit.depth.calibrate import calibrate_depth, depth_table, save_depth_artifact
from cotexit.depth.config import LayerExitConfig
from cotexit.depth.onpolicy import DEFAULT_GRID, METHODS, calibrate_depth_on_policy, check_grid
from cotexit.engines.decoding import DecodeConfig
from cotexit.models.loading import chat_prompt

console = Console()


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "calibrate-depth",
        help="calibrate the layer-exit threshold so token disagreement (or answer changes) stays <= epsilon",
        description="Choose the most lenient confidence threshold for `--layer-exit propagate` whose expected "
        "per-problem loss against full greedy decoding is <= --epsilon with probability >= 1 - --delta "
        "(Learn-then-Test). The full model first decodes the problems greedily. --method engine (default): the engine "
        "then reads that text with its own propagated cache at each threshold of --grid, strict to lenient, until one "
        "fails; the loss is the share of positions where it predicts another next token. --method free-run: the engine "
        "generates freely and its tokens are compared position by position (one divergence shifts every later "
        "position; far harsher). --method answer: the engine generates freely and the loss is 1 where its final answer "
        "differs from the full model's: the bound that protects accuracy (no gold answers needed). "
        "--method full-states: one pass scoring exit points on the full model's own states; "
        "cheapest, but blind to what propagated keys and values do. Writes OUT/card.json; use it with "
        "`bench --layer-exit propagate --depth-artifact OUT`.",
    )
    parser.add_argument("--suite", required=True)
    parser.add_argument("--split", help="calibration split (e.g. calib for arith)")
    parser.add_argument("--limit", type=int, default=200, help="problems (sequences) to calibrate on (default 200)")
    parser.add_argument(
        "--skip", type=int, default=0,
        help="leave out the split's first N problems (for a fresh calibration set after looking at those; default 0)",
    )
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--exit-every", type=int, default=2, help="an exit point every K layers (default 2)")
    parser.add_argument("--exit-layers", help="comma-separated exit points instead of --exit-every")
    parser.add_argument("--exit-measure", choices=["softmax", "margin", "saturation"], default="softmax")
    parser.add_argument(
        "--epsilon", "--epsilon-tok", dest="epsilon", type=float, required=True,
        help="bound on the expected loss: the token disagreement rate, or with --method answer the answer-change rate",
    )
    parser.add_argument("--delta", type=float, default=0.1)
    parser.add_argument(
        "--method", choices=[*METHODS, "full-states"], default="engine",
        help="engine: the engine reads the full model's text at each tested threshold (default); free-run: the engine "
        "generates, tokens compared; answer: the engine generates, final answers compared; full-states: one pass on "
        "the full model's states",
    )
    parser.add_argument(
        "--grid", help="engine, free-run and answer methods: comma-separated thresholds, strict to lenient "
        f"(default {','.join(f'{g:g}' for g in DEFAULT_GRID)})",
    )
    parser.add_argument("--data-dir")
    parser.add_argument("--out", required=True, help="artifact folder")
    add_model_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    points = tuple(int(x) for x in args.exit_layers.split(",")) if args.exit_layers else ()
    config = LayerExitConfig(mode="propagate", measure=args.exit_measure, every=None if points else args.exit_every, points=points)
    if not 0 < args.epsilon < 1:
        raise ValueError(f"--epsilon must be in (0, 1), got {args.epsilon}")
    grid = check_grid([float(x) for x in args.grid.split(",")] if args.grid else DEFAULT_GRID)
    if args.grid and args.method == "full-states":
        raise ValueError("--grid is for --method engine, free-run or answer (full-states tries every observed confidence)")
    if args.skip < 0:
        raise ValueError(f"--skip must be >= 0, got {args.skip}")
    problems = load_problems(args.suite, args.split, args.skip + args.limit, args.data_dir)[args.skip :]
    if not problems:
        raise ValueError(f"--skip {args.skip} leaves no problems in {args.suite}/{args.split}")
    check_enough(len(problems), args)
    decode = DecodeConfig(max_new_tokens=args.max_new_tokens)
    lm = load_for_cli(args)
    prompts = [chat_prompt(lm.tokenizer, build_prompt(p)) for p in problems]
    with Progress(console=console) as progress:
        task = progress.add_task("decoding", total=len(prompts))
        if args.method in METHODS:
            def on_progress(what: str, done: int, total: int) -> None:
                progress.update(task, description=what, completed=done, total=total)

            cal = calibrate_depth_on_policy(
                lm, prompts, config, args.epsilon, args.delta, decode, args.batch_size, grid, on_progress,
                method=args.method,
            )
        else:
            table = depth_table(
                lm, prompts, config, decode, args.batch_size, lambda done: progress.update(task, completed=done)
            )
            cal = calibrate_depth(table, args.exit_measure, args.epsilon, args.delta)
    final = LayerExitConfig(
        mode="propagate", measure=args.exit_measure, points=cal.points, thresholds=(cal.threshold if cal.threshold is not None else 1.0,)
    )
    corpus = {
        "suite": args.suite, "split": args.split, "skip": args.skip, "n": len(problems), "max_new_tokens": args.max_new_tokens,
    }
    save_depth_artifact(cal, final, lm.fingerprint(), args.out, corpus)
    if cal.threshold is None:
        console.print("[yellow]warning:[/yellow] no threshold certified: the engine would never exit")
    else:
        i = cal.candidates.index(cal.threshold)
        console.print(
            f"threshold {format_threshold(cal.threshold, cal.candidates[max(i - 1, 0) : i + 2], gap=True)} on "
            f"{args.exit_measure} at layers {list(cal.points)}: calibration "
            f"{'answer changes' if args.method == 'answer' else 'disagreement'} {cal.risks[i]:.3%}, "
            f"mean exit layer {cal.mean_layers[i]:.2f} of {lm.num_layers}"
        )
    console.print(f"guarantee: {cal.guarantee}", highlight=False)
    console.print(f"wrote {args.out}/card.json")
    return 0


def check_enough(n: int, args: argparse.Namespace) -> None:
    """Refuse, before any decoding, a calibration set too small for --epsilon at --delta, saying what to change."""
    need = min_samples(args.epsilon, args.delta)
    if n >= need:
        return
    ways = [f"raise --limit to {need}" if n == args.limit else f"use a split with {need} problems after --skip"]
    looser = looser_levels(n, "--epsilon", args.epsilon, args.delta, delta_name="--delta")
    if looser:
        ways.append(f"ask for less: {looser}")
    raise ValueError(
        f"{n} calibration problems ({args.suite} {args.split or 'default split'}, --skip {args.skip}, --limit "
        f"{args.limit}) cannot certify --epsilon {args.epsilon} at --delta {args.delta}: at least {need} are needed "
        f"(below that not even a run without a single loss passes the first test). Ways out: {'; or '.join(ways)}"
    )
