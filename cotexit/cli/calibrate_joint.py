"""`cotexit calibrate-joint`: one accuracy budget over the length and the depth exit.

    cotexit calibrate-joint --probe probes/toy-arith --epsilon 0.02 --out probes/toy-arith-joint \
        --data runs/joint/off runs/joint/propagate-0.999999 runs/joint/propagate-0.99999
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from cotexit.calibration.digits import format_threshold
from cotexit.calibration.plots import joint_plot
from cotexit.cli.common import err
from cotexit.models.loading import load_model
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.joint import LOSSES, fit_joint_artifact

console = Console(highlight=False)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "calibrate-joint",
        help="certify a probe threshold and a depth setting together: one accuracy budget for both exits",
        description="Score the cues of several `cotexit collect` runs over the same calibration problems, one per "
        "depth setting (one without depth exits: the reference), with an existing probe; certify the pairs "
        "(probe threshold, depth setting) whose expected accuracy drop against the run with neither exit is <= "
        "epsilon with probability >= 1 - delta (Bonferroni across depth settings, fixed-sequence over the "
        "threshold within each); choose the one that saves the most estimated FLOPs. Writes an artifact (the "
        "probe's weights, card.json with both settings, evidence.safetensors, joint.png): `--probe OUT` then "
        "turns both exits on. The calibration problems must not be ones the probe was fitted on.",
    )
    parser.add_argument("--probe", required=True, help="a probe artifact from `cotexit calibrate`")
    parser.add_argument("--data", required=True, nargs="+", metavar="DIR",
                        help="`cotexit collect` folders, one per depth setting, over the same problems")
    parser.add_argument(
        "--epsilon", type=float, required=True,
        help="allowed expected accuracy drop (e.g. 0.02); with --loss answer-change, allowed rate of changed answers",
    )
    parser.add_argument(
        "--loss", choices=LOSSES, default="accuracy-drop",
        help="accuracy-drop (default): the run with neither exit right and the run with both wrong, graded against "
        "gold; answer-change: the run with both exits gives another answer than the run with neither (no gold "
        "answer read, so data collected with --prompts serve; it bounds the accuracy drop under any grading)",
    )
    parser.add_argument("--delta", type=float, default=0.1, help="1 - confidence over the calibration draw (default 0.1)")
    parser.add_argument(
        "--only", metavar="SETTING",
        help="choose among the certified pairs of this depth setting only (a name from the table, e.g. "
        "'propagate-softmax-0.999999'); every setting is still tested, and the certificate covers any choice",
    )
    parser.add_argument("--out", required=True, help="artifact folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    probe = ProbeArtifact.load(args.probe)
    if probe.calibration.get("mode") == "joint":
        raise ValueError(f"{args.probe} is already a joint artifact; give the probe it was made from")
    with err.status("reading the model's shapes ..."):
        lm = load_model(probe.fingerprint["model"], weights=False)
    probe.check_model(lm.fingerprint())
    artifact, cal, arms = fit_joint_artifact(
        probe, args.data, lm.model.config, args.epsilon, args.delta, source=args.probe, only=args.only, loss=args.loss
    )
    reference = next(a for a in arms if a.layer_exit is None)

    def extras(staging) -> None:
        joint_plot(arms, reference.table.full_correct, reference.end_cost, cal, staging / "joint.png")

    out = artifact.save(args.out, extras=extras)
    table = Table(title=f"joint calibration over {cal.n_problems} problems (family level {cal.arms[0].level:.4g} each)")
    harm = "change rate" if args.loss == "answer-change" else "harm rate"
    for column in ("depth setting", "layers/token", "certified", "threshold", harm, "FLOPs saved"):
        table.add_column(column, justify="right" if column != "depth setting" else "left", overflow="fold")
    for arm, result in zip(arms, cal.arms):
        chosen = " *" if result.name == cal.arm else ""
        table.add_row(
            arm.name + chosen,
            f"{arm.mean_layers:.2f}" if arm.mean_layers is not None else "-",
            f"{result.n_certified} of {result.n_tested} tested",
            "-" if result.n_certified == 0 else _threshold(result.threshold),
            "-" if result.harm_rate is None else f"{result.harm_rate:.2%}",
            "-" if result.compute_saved is None else f"{result.compute_saved:.1%}",
        )
    console.print(table)
    console.print(f"guarantee: {cal.guarantee}")
    if cal.arm is None:
        console.print("[yellow]warning:[/yellow] no pair certified: this artifact turns neither exit on")
    console.print(f"wrote {out} (use it with --probe {out})")
    return 0


def _threshold(threshold: float | None) -> str:
    return "never exit" if threshold is None else format_threshold(threshold, gap=True)
