"""`cotexit bench --sweep`: the Pareto comparison of the probe against the baselines on one suite."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from cotexit.cli.backend import vllm_options
from cotexit.cli.common import cue_config, decode_config, load_for_cli
from cotexit.calibration.shift import settings_coverage
from cotexit.cli.exits import probe_guarantee, probe_path
from cotexit.cli.guarantee_view import guarantee_grid, uncovered_warning
from cotexit.experiments.collect import CollectConfig, run_collect
from cotexit.experiments.paired import wilson
from cotexit.calibration.result import EPSILON_MODES
from cotexit.experiments.sweep import exit_changes, exit_outcomes, probe_rule, sweep_points, write_sweep
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.cuedata import META, load_cue_data
from cotexit.probes.controller import artifact_cues
from cotexit.probes.coverage import certified_settings

console = Console()


DEFAULT_BUDGETS = (32, 64, 128, 256)


def sweep_budgets(option: str | None, data_dir: Path) -> tuple[int, ...]:
    """The budgets to sweep: --sweep-budgets, else those the existing sweep data was collected with, else the default.

    Budget trials are forced answers recorded during collection, so existing data can only serve its own budgets.
    """
    requested = tuple(sorted({int(b) for b in option.split(",") if b.strip()})) if option else None
    meta = data_dir / META
    if not meta.is_file():
        return requested if requested is not None else DEFAULT_BUDGETS
    recorded = tuple(json.loads(meta.read_text()).get("provenance", {}).get("config", {}).get("budgets", ()))
    if requested is not None and requested != recorded:
        raise ValueError(
            f"{data_dir} was collected with budget trials at {list(recorded)}, not {list(requested)}; "
            f"pass --sweep-budgets {','.join(map(str, recorded)) or '(none)'} or another --sweep-data"
        )
    return recorded


def run_sweep(args: argparse.Namespace) -> int:
    path = probe_path(args)
    if path is None:
        raise ValueError("--sweep needs the probe to sweep: --probe DIR or --exit")
    artifact = ProbeArtifact.load(path)
    if artifact.calibration.get("mode") == "joint":
        raise ValueError(
            f"{path} is a joint (probe + depth) artifact; --sweep compares length policies at the probe's calibrated "
            f"levels without depth exits: sweep the probe it was made from ({artifact.corpus.get('probe')})"
        )
    data_dir = Path(args.sweep_data) if args.sweep_data else Path(args.out) / "sweep-data"
    budgets = sweep_budgets(args.sweep_budgets, data_dir)
    config = CollectConfig(
        suite=args.suite,
        model=args.model,
        split=args.split,
        limit=args.limit,
        layers=artifact.features.layers,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
        decode=decode_config(args),
        cues=cue_config(args, artifact_cues(artifact)),  # trials at the probe's own cues unless --cues says
        budgets=budgets,
        exit_semantics=artifact.exit_semantics.get("cut", "before-cue"),  # trials where the probe's exits cut
        backend=args.backend,
    )
    settings_note, _ = settings_coverage(certified_settings(artifact), config.decode.to_json(), args.dtype, artifact.cues,
                                         config.cues.to_json())
    guarantee = probe_guarantee(artifact, None, args, config.cues, settings_note)
    if warning := uncovered_warning(guarantee):
        console.print(warning, highlight=False)
    lm = load_for_cli(args)
    artifact.check_model(lm.fingerprint())
    columns = [TextColumn("[bold]full runs with trials at every cue"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("sweep", total=None)
        for event in run_collect(lm, config, data_dir, vllm_options(args)):
            progress.update(task, total=event.total, completed=event.done)
    data = load_cue_data(data_dir)
    with torch.no_grad():
        scores = artifact.probe.score(data.features).numpy() if len(data.cues) else []
    mode = artifact.calibration.get("mode")
    level_name = "eps" if mode in EPSILON_MODES else "alpha"
    thresholds = {f"{level_name}={lvl}": thr for lvl, thr in artifact.calibration.get("thresholds_by_level", {}).items()}
    forced_tokens = len(lm.tokenizer(lm.fmt.forced_exit, add_special_tokens=False)["input_ids"])
    points = sweep_points(data, scores, forced_tokens, thresholds, budgets=budgets)
    csv_path, png = write_sweep(points, args.out, f"{args.suite} · {args.model}: accuracy vs tokens")
    table = Table(title="Pareto sweep (one full run per problem, forced answers at every cue)")
    for column in ("policy", "setting", "accuracy", "thinking tokens", "cost tokens", "exit rate"):
        table.add_column(column)
    for p in points:
        table.add_row(p.policy, p.setting, f"{p.accuracy:.1%}", f"{p.mean_thinking_tokens:.1f}", f"{p.mean_cost_tokens:.1f}", f"{p.exit_rate:.0%}")
    console.print(table)
    threshold = args.probe_threshold if args.probe_threshold is not None else artifact.calibration.get("threshold")
    if len(data.problems):
        harms, exits, wrong = exit_outcomes(data, probe_rule(threshold))
        changes = exit_changes(data, probe_rule(threshold))
        n = len(data.problems)
        empirical = {
            "accuracy_drop_events": {"rate": harms / n, "ci95": wilson(harms, n), "n": n},
            "wrong_given_stop": {"rate": wrong / exits if exits else 0.0, "ci95": wilson(wrong, exits), "n": exits},
            "answer_change_events": {"rate": changes / n, "ci95": wilson(changes, n), "n": n},
        }
        console.print(guarantee_grid({"guarantee": guarantee, "empirical": empirical}))
    console.print(f"wrote {csv_path} and {png}")
    return 0
