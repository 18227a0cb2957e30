"""`cotexit calibrate`: fit a probe on collected cue data and calibrate its exit threshold (`cotexit.calibrate_probe`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cotexit.api.calibrate import calibrate_probe
from cotexit.calibration import MODES, Calibration
from cotexit.calibration.digits import format_threshold
from cotexit.probes.probe import ProbeConfig

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
        "accuracy drop vs thinking to the end <= epsilon w.p. 1-delta, needs --epsilon), answer-change "
        "(P(the exit changes the run's answer) <= epsilon w.p. 1-delta, needs --epsilon; reads no gold answer, "
        "so it also calibrates data collected with --prompts, and it bounds the accuracy drop under any grading).",
    )
    parser.add_argument("--data", required=True, help="a folder written by `cotexit collect`")
    parser.add_argument("--mode", required=True, help=f"one of {', '.join(MODES)}")
    parser.add_argument("--alpha", type=float, help="risk level for cue and stop-precision modes")
    parser.add_argument(
        "--epsilon", type=float,
        help="the bound in accuracy-drop mode (expected accuracy drop) and answer-change mode (rate of changed answers)",
    )
    parser.add_argument("--delta", type=float, default=0.1, help="1 - confidence over the calibration draw (default 0.1)")
    parser.add_argument("--out", required=True, help="artifact folder, e.g. probes/my-model")
    parser.add_argument("--probe-kind", choices=["logistic", "mlp"], default="logistic")
    parser.add_argument("--pca", type=int, default=0, help="PCA components before the probe (0 = none)")
    parser.add_argument(
        "--calib-fraction", type=float, default=0.5,
        help="share of the collected problems used to calibrate; the rest fit the probe (default 0.5)",
    )
    parser.add_argument("--seed", type=int, default=0, help="split and probe seed")
    parser.add_argument(
        "--weights-from", metavar="DIR",
        help="keep this probe artifact's weights instead of fitting new ones (its features must match --data), and "
        "calibrate them on the calibration split: to recalibrate a probe, or to rebuild an artifact's evidence "
        "from re-collected data (the training split must be the one the weights were fitted on)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    fit = calibrate_probe(
        args.data,
        mode=args.mode,
        out=args.out,
        alpha=args.alpha,
        epsilon=args.epsilon,
        delta=args.delta,
        probe=ProbeConfig(kind=args.probe_kind, pca=args.pca, seed=args.seed),
        calib_fraction=args.calib_fraction,
        seed=args.seed,
        weights_from=args.weights_from,
    )
    out = Path(args.out)
    metrics = fit.artifact.metrics
    table = Table(title=f"probe {out}")
    table.add_column("")
    table.add_column("value", justify="right")
    rows = [
        ("mode", args.mode if fit.artifact.calibration.get("gold_read", True) else f"{args.mode} (no gold answer read)"),
        ("threshold", threshold_text(fit.calibration)),
        ("AUROC (held-out problems)", _fmt(metrics["auroc_heldout"])),
        ("calibration error (ECE)", _fmt(metrics["ece_heldout"])),
        ("problems: train / calibrate", f"{metrics['n_train_problems']} / {metrics['n_calib_problems']}"),
    ]
    settings = fit.artifact.calibration.get("settings")
    if settings:  # one threshold certified in each decoding setting: each one's own record at it
        for record in settings:
            held = metrics["calibration_split"][record["name"]]
            rows.append((f"{record['name']}: exit rate, tokens saved, {_loss_name(args.mode)}, p-value",
                         f"{_fmt(held['exit_rate'])}, {_fmt(held.get('tokens_saved_pct'), '{:.1f}%')}, "
                         f"{_fmt(record['risk'])}, {_fmt(record['p_value'], '{:.2g}')}"))
    else:
        held = metrics["calibration_split"]
        rows += [
            ("exit rate (calibration split)", _fmt(held["exit_rate"])),
            ("tokens saved (calibration split)", _fmt(held.get("tokens_saved_pct"), "{:.1f}%")),
            *([("answers changed (calibration split)", _fmt(held["answer_change_rate"]))] if "answer_change_rate" in held else []),
        ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    console.print(f"guarantee: {fit.calibration.guarantee}", highlight=False)
    if fit.calibration.threshold is None:
        console.print("[yellow]warning:[/yellow] no threshold is valid at these levels: this probe will never exit")
    return 0


def threshold_text(calibration: Calibration) -> str:
    """The chosen threshold with the digits that tell it from 1 and from the candidates either side of it."""
    threshold = calibration.threshold
    if threshold is None:
        return "never exit"
    candidates = list(calibration.candidates)
    i = candidates.index(threshold) if threshold in candidates else 0
    return format_threshold(threshold, candidates[max(i - 1, 0) : i + 2], gap=True)


def _loss_name(mode: str) -> str:
    return "answers changed" if mode == "answer-change" else "harm"


def _fmt(value, pattern: str = "{:.3f}") -> str:
    return "-" if value is None else pattern.format(value)
