"""`cotexit verify DIR...`: re-check artifacts' certificates (digests, and the threshold from the evidence).

    cotexit verify probes                   # every artifact in a folder of them (the shipped ones)
    cotexit verify probes/toy-arith --json
    cotexit verify --upgrade probes/old-depth   # seal a version 1 layer-exit card from its recorded statistics

Exit code 0 when every artifact passes, 1 when one fails (each failing check
named), 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from cotexit.certificates import verify

console = Console(highlight=False, soft_wrap=True)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "verify",
        help="re-check artifacts' certificates: digests, and p-values and threshold recomputed from the evidence",
        description="For each artifact folder (a probe from `calibrate`, a joint one from `calibrate-joint`, a "
        "layer-exit one from `calibrate-depth`): check the sealed digests of its files and card fields, then "
        "recompute the p-values and the chosen threshold from its evidence (evidence.safetensors) with the "
        "card's procedure and levels, and compare them with the card. Exit code 0 when all pass, 1 otherwise.",
    )
    parser.add_argument("folders", nargs="+", metavar="DIR", help="artifact folders, or folders of them (e.g. probes)")
    parser.add_argument("--json", action="store_true", help="print the reports as JSON")
    parser.add_argument(
        "--upgrade", action="store_true",
        help="first seal version 1 layer-exit cards from the statistics they recorded (refused if those do not "
        "reproduce their threshold); probe cards before version 3 kept no evidence: re-run `calibrate`",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    folders = []
    for folder in map(Path, args.folders):
        inside = sorted(p for p in folder.iterdir() if (p / "card.json").is_file()) if folder.is_dir() else []
        if (folder / "card.json").is_file():
            folders.append(folder)
        elif inside:
            folders.extend(inside)  # a folder of artifacts, such as probes/
        else:
            raise ValueError(f"{folder} is not an artifact folder (no card.json) nor a folder of them")
    if args.upgrade:
        from cotexit.depth.calibrate import load_depth_artifact, upgrade_depth_card

        for folder in folders:
            card = json.loads((folder / "card.json").read_text())
            if card.get("kind") == "layer-exit" and card.get("card_version") == 1:
                load_depth_artifact(folder)
                upgrade_depth_card(folder)
                console.print(f"sealed {folder} (card version 1 -> 2)")
    reports = [verify(folder) for folder in folders]
    if args.json:
        console.print_json(json.dumps([r.to_json() for r in reports]))
    else:
        for report in reports:
            mark = "[green]ok[/green]" if report.ok else "[red]FAILED[/red]"
            console.print(f"{mark} {escape(report.folder)} ({report.kind})")
            for check in report.checks:
                sign = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
                console.print(f"  {sign} {check.name}: {escape(check.detail)}")
    return 0 if all(r.ok for r in reports) else 1
