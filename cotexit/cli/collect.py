"""`cotexit collect`: run problems to the end and label every cue with a forced exit."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from cotexit.benchmarks.prompt_files import load_prompts
from cotexit.benchmarks.suites import get_suite
from cotexit.cli.backend import add_backend_arg, check_backend_args, vllm_options
from cotexit.cli.common import add_decode_args, add_source_args, add_model_args, cue_config, decode_config, load_for_cli
from cotexit.cli.exits import depth_artifact_config
from cotexit.controller.capture import default_layers
from cotexit.depth.config import LayerExitConfig
from cotexit.experiments.collect import CollectConfig, run_collect
from cotexit.experiments.collect_settings import run_collect_settings
from cotexit.probes.cuedata import SETTINGS, CueData, load_cue_data, load_settings
from cotexit.probes.outcomes import gold_read

console = Console()


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "collect",
        help="collect probe data: hidden states and forced-exit labels at every cue",
        description="Run each problem to the end; at every cue record the chosen layers' hidden states, "
        "the forced answer from where an exit there would cut, whether it is right and whether it is the full "
        "run's final answer. Writes OUT/{meta.json, problems.jsonl, cues.jsonl, features-*.safetensors}; "
        "rerunning with the same --out resumes. With --prompts no gold answer is read: calibrate such data with "
        "--mode answer-change. With several temperatures (--temperature 0,0.6,1.0) every problem is collected at "
        "each, into OUT/temperature-T/ with OUT/settings.json listing them; `cotexit calibrate --data OUT` then "
        "certifies one threshold in every setting at once.",
    )
    add_source_args(parser, suites="suite to collect on (e.g. arith, gsm8k)")
    parser.add_argument("--split", help="split (default: the suite's test split; use a calibration split)")
    parser.add_argument("--limit", type=int, help="first N problems")
    parser.add_argument("--layers", help="comma-separated layers, 1..N, negatives from the end (default: 2 evenly spaced + last)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--batch-size", type=int, help="problems decoded together (default: 8 on hf, 64 on vllm)")
    parser.add_argument("--max-forced-tokens", type=int, default=24, help="answer tokens per forced trial (default: 24)")
    parser.add_argument("--budgets", help="comma-separated thinking-token budgets at which to also force an answer")
    parser.add_argument(
        "--depth-artifact",
        help="decode with propagate-mode layer exit from this `calibrate-depth` artifact, so the probe is fitted and "
        "calibrated on the states and forced answers it will see when used with the same --depth-artifact",
    )
    parser.add_argument(
        "--depth-threshold",
        type=float,
        help="with --depth-artifact: its exit points and measure at this threshold instead of the certified one "
        "(to collect one depth setting of a `calibrate-joint` grid)",
    )
    parser.add_argument(
        "--exit-semantics",
        choices=("before-cue", "keep-cue"),
        default="before-cue",
        help="where each label's forced exit cuts thinking: before the cue (default) or after the token that "
        "confirmed it (keep-cue: the only cut `vllm serve` can make, since the cue is already streamed when its "
        "states are read). A probe calibrated on this data records it, and every backend cuts there",
    )
    parser.add_argument("--offset", type=int, default=0, help="skip the first N problems (default: 0)")
    parser.add_argument("--data-dir", help="benchmark data folder")
    add_model_args(parser)
    add_backend_arg(parser, choices=("hf", "vllm"))
    add_decode_args(parser, max_new_tokens=1024, several_temperatures=True)
    parser.set_defaults(func=run)


def parse_layers(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"--layers must be comma-separated integers, got {text!r}") from None


def depth_setting(args: argparse.Namespace) -> LayerExitConfig | None:
    if args.depth_threshold is not None and not args.depth_artifact:
        raise ValueError("--depth-threshold needs --depth-artifact (whose exit points and measure it reuses)")
    if not args.depth_artifact:
        return None
    config = depth_artifact_config(args.depth_artifact)
    if args.depth_threshold is None:
        return config
    return LayerExitConfig(**{**config.to_json(), "thresholds": (args.depth_threshold,), "points": config.points})


def run(args: argparse.Namespace) -> int:
    if args.suite is not None:
        get_suite(args.suite)
    else:
        load_prompts(args.prompts)  # a bad file fails before the model loads
    layers = parse_layers(args.layers)
    temperatures = args.temperature
    args.temperature = temperatures[0]  # the base config's; run_collect_settings sets each setting's
    config_args = dict(
        suite=args.suite,
        prompts=args.prompts,
        model=args.model,
        split=args.split,
        limit=args.limit,
        batch_size=args.batch_size or (64 if args.backend == "vllm" else 8),
        max_forced_tokens=args.max_forced_tokens,
        budgets=parse_layers(args.budgets) or (),
        data_dir=args.data_dir,
        decode=decode_config(args),
        cues=cue_config(args),
        offset=args.offset,
        layer_exit=depth_setting(args),
        exit_semantics=args.exit_semantics,
        backend=args.backend,
    )
    CollectConfig(**config_args, layers=layers or ())  # validate before loading the model
    check_backend_args(args)
    lm = load_for_cli(args)
    config = CollectConfig(**config_args, layers=layers or default_layers(lm.num_layers))
    columns = [TextColumn("[bold]collect {task.fields[setting]}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[cues]} cues"), TimeElapsedColumn(), TimeRemainingColumn()]
    if len(temperatures) > 1:
        with Progress(*columns, console=console) as progress:
            tasks: dict[str, Any] = {}
            for name, event in run_collect_settings(lm, config, temperatures, args.out, vllm_options(args)):
                if name not in tasks:
                    tasks[name] = progress.add_task(name, total=None, cues=0, setting=name)
                progress.update(tasks[name], total=event.total, completed=event.done, cues=event.cues)
        for name, data in load_settings(args.out).items():
            console.print(f"{name}: {summary_line(data)}", highlight=False)
        console.print(f"settings listed in {Path(args.out) / SETTINGS}; calibrate with `cotexit calibrate --data {args.out}`",
                      highlight=False)
        return 0
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("collect", total=None, cues=0, setting="")
        for event in run_collect(lm, config, args.out, vllm_options(args)):
            progress.update(task, total=event.total, completed=event.done, cues=event.cues)
    console.print(f"{summary_line(load_cue_data(args.out))} in {args.out}", highlight=False)
    return 0


def summary_line(data: CueData) -> str:
    """What a collection holds: problems, cues, labels and the features' shape."""
    agree = sum(c["forced_agrees"] for c in data.cues if "forced_agrees" in c)
    if gold_read(data.meta):
        full = sum(p["full_correct"] for p in data.problems)
        head = f"{len(data.problems)} problems (full runs right: {full})"
        labels = f"forced answer right: {sum(c['forced_correct'] for c in data.cues)}, the full run's: {agree}"
    else:
        head, labels = f"{len(data.problems)} prompts (no gold answer read)", f"forced answer the full run's: {agree}"
    return f"{head}, {len(data.cues)} cues ({labels}); features {tuple(data.features.shape)}"
