"""Both exits under one budget, on test problems: the accuracy drop against the run with neither exit, with intervals.

Reads the `bench` runs of the joint artifacts (each problem decoded with
neither exit and with both, same seed) and writes eval/joint/joint.json and
the Markdown table for eval/joint/README.md: the accuracy drop (paired, 95%
normal interval), the harm rate (95% Wilson interval) against epsilon, and
thinking tokens, layers and estimated FLOPs saved.

    python eval/joint/report.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from cotexit.experiments.paired import wilson

ROOT = Path(__file__).resolve().parents[2]
RUNS = [
    ("toy-arith-joint (FLOPs-optimal pair: no depth exit)", "eval/joint/toy-arith-joint-t0.6"),
    ("toy-arith-joint-depth (best pair with propagate at softmax >= 0.999999)", "eval/joint/toy-arith-joint-depth-t0.6"),
    ("uncertified: toy-arith-propagate with toy-arith-depth-strict (before joint calibration)", "eval/toy-arith/probe+propagate-t0.6"),
]


def paired_drop(rows: list[dict]) -> tuple[float, float, float]:
    d = [int(r["full"]["correct"]) - int(r["correct"]) for r in rows]
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1)) if n > 1 else 0.0
    half = 1.96 * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def main() -> None:
    out = []
    for name, folder in RUNS:
        path = ROOT / folder
        if not (path / "summary.json").is_file():
            print(f"skipping {name}: no {path / 'summary.json'}")
            continue
        summary = json.loads((path / "summary.json").read_text())
        rows = [json.loads(line) for line in (path / "results.jsonl").read_text().splitlines() if line.strip()]
        drop, low, high = paired_drop(rows)
        harms = sum(r["full"]["correct"] and not r["correct"] for r in rows)
        guarantee = summary.get("guarantee", {})
        out.append({
            "name": name,
            "run": folder,
            "n": len(rows),
            "epsilon": guarantee.get("epsilon"),
            "covers_run": guarantee.get("covers_run"),
            "accuracy_neither": summary["accuracy_full"],
            "accuracy_both": summary["accuracy_exit"],
            "accuracy_drop": drop,
            "accuracy_drop_ci95": [low, high],
            "harm_rate": harms / len(rows),
            "harm_ci95": list(wilson(harms, len(rows))),
            "tokens_saved_pct": summary["tokens_saved_pct"],
            "depth_saved_pct": summary.get("depth_saved_pct", 0.0),
            "layers_per_token": summary.get("mean_layers_per_token"),
            "compute_saved_pct": summary["compute_saved_pct"],
            "wall_speedup": summary.get("wall_speedup"),
            "shift_check": (summary.get("shift_check") or {}).get("message"),
        })
    (ROOT / "eval" / "joint" / "joint.json").write_text(json.dumps({"command": "python eval/joint/report.py", "runs": out}, indent=2) + "\n")
    print("| run | n | accuracy neither -> both | accuracy drop (95% CI) | harm rate (95% CI) | thinking tokens saved | depth saved | FLOPs saved (est.) | wall |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in out:
        print(
            f"| {r['name']} | {r['n']} | {100 * r['accuracy_neither']:.1f}% -> {100 * r['accuracy_both']:.1f}% "
            f"| {100 * r['accuracy_drop']:.1f} pt ({100 * r['accuracy_drop_ci95'][0]:.1f} to {100 * r['accuracy_drop_ci95'][1]:.1f}) "
            f"| {100 * r['harm_rate']:.1f}% ({100 * r['harm_ci95'][0]:.1f}-{100 * r['harm_ci95'][1]:.1f}%) "
            f"| {r['tokens_saved_pct']:.1f}% | {r['depth_saved_pct']:.1f}% | {r['compute_saved_pct']:.1f}% "
            f"| {r['wall_speedup']:.2f}x |"
        )


if __name__ == "__main__":
    main()
