"""`cotexit calibrate`: fit a probe on collected cue data and calibrate its exit threshold."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cotexit.calibration import MODES
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.cuedata import load_cue_data
from cotexit.probes.fit import fit_probe_artifact
from cotexit.probes.probe import ProbeConfig
from cotexit.probes.report import write_report

console = Console()


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "calibrate",
        help="fit a probe on collected cue data and choose its threshold with a guarantee",
        description="Split the problems of a `cotexit collect` folder into probe-training and calibration "
        "parts (by problem, never by cue), fit the probe, choose the exit threshold in the given mode, and "
        "write the artifact (probe.safetensors + card.json) with a report (reliability.png, scores.png, "
        "risk.png, report.json) to --out. Modes: cue (split conformal per cue, needs --alpha), "
        "stop-precision (P(wrong | stop) <= alpha w.p. 1-delta, needs --alpha), accuracy-drop (expected "
        "accuracy drop vs thinking to the end <= epsilon w.p. 1-delta, needs --epsilon).",
    )
    parser.add_argument("--data", required=True, help="a folder written by `cotexit collect`")
    parser.add_argument("--mode", required=True, help=f"one of {', '.join(MODES)}")
    parser.add_argument("--alpha", type=float, help="risk level for cue and stop-precision modes")
    parser.add_argument("--epsilon", type=float, help="accuracy-drop bound for accuracy-drop mode")
    parser.add_argument("--delta", type=float, default=0.1, help="1 - confidence over the calibration draw (default 0.1)")
    parser.add_argument("--out", required=True, help="artifact folder, e.g. probes/my-model")
    parser.add_argument("--probe-kind", choices=["logistic", "mlp"], default="logistic")
    parser.add_argument("--pca", type=int, default=0, help="PCA components before the probe (0 = none)")
    parser.add_argument("--calib-fraction", type=float, default=0.5, help="share of problems used to calibrate")
    parser.add_argument("--seed", type=int, default=0, help="split and probe seed")
    parser.add_argument(
        "--weights-from", metavar="DIR",
        help="keep this probe artifact's weights instead of fitting new ones (its features must match --data), and "
        "calibrate them on the calibration split: to recalibrate a probe, or to rebuild an artifact's evidence "
        "from re-collected data (the training split must be the one the weights were fitted on)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.mode not in MODES:
        raise ValueError(f"unknown mode {args.mode!r}; choose one of {', '.join(MODES)}")
    if not 0.0 < args.calib_fraction < 1.0:
        raise ValueError(f"--calib-fraction must be in (0, 1), got {args.calib_fraction}")
    data = load_cue_data(args.data)
    probe = ProbeConfig(kind=args.probe_kind, pca=args.pca, seed=args.seed)
    fitted, corpus = None, {"data": str(Path(args.data))}
    if args.weights_from:
        source = ProbeArtifact.load(args.weights_from)
        source.check_model(data.meta["fingerprint"])
        if json.loads(json.dumps(source.features.to_json())) != data.meta["features"]:
            raise ValueError(f"{args.weights_from} reads features {source.features.to_json()}, --data holds {data.meta['features']}")
        fitted, corpus["weights_from"] = source.probe, str(Path(args.weights_from))
    fit = fit_probe_artifact(
        data,
        args.mode,
        alpha=args.alpha,
        epsilon=args.epsilon,
        delta=args.delta,
        probe=probe,
        calib_fraction=args.calib_fraction,
        seed=args.seed,
        corpus=corpus,
        fitted=fitted,
    )
    out = fit.artifact.save(args.out, extras=lambda staging: write_report(fit, staging))
    metrics = fit.artifact.metrics
    table = Table(title=f"probe {out}")
    table.add_column("")
    table.add_column("value", justify="right")
    held = metrics["calibration_split"]
    for name, value in [
        ("mode", args.mode),
        ("threshold", "never exit" if fit.calibration.threshold is None else f"{fit.calibration.threshold:.4f}"),
        ("AUROC (held-out problems)", _fmt(metrics["auroc_heldout"])),
        ("calibration error (ECE)", _fmt(metrics["ece_heldout"])),
        ("problems: train / calibrate", f"{metrics['n_train_problems']} / {metrics['n_calib_problems']}"),
        ("exit rate (calibration split)", _fmt(held["exit_rate"])),
        ("tokens saved (calibration split)", _fmt(held.get("tokens_saved_pct"), "{:.1f}%")),
    ]:
        table.add_row(name, value)
    console.print(table)
    console.print(f"guarantee: {fit.calibration.guarantee}", highlight=False)
    if fit.calibration.threshold is None:
        console.print("[yellow]warning:[/yellow] no threshold is valid at these levels: this probe will never exit")
    return 0


def _fmt(value, pattern: str = "{:.3f}") -> str:
    return "-" if value is None else pattern.format(value)
