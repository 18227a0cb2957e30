"""The shipped probe's guarantee under shift: one row per run (or subset of a run), with the shift check.

For each row: the realized harm rate (right when thinking to the end, wrong
with the exit) against epsilon with its 95% Wilson interval, thinking tokens
saved, the accuracy drop, and the shift check (two-sample KS of the run's
first-cue probe scores against the calibration problems', from the
artifact's evidence, and the run's decoding and cues against the
calibration's), as
`bench` reports it in `summary.json`. Writes eval/shift/shift.json and prints the Markdown
table for eval/shift/README.md.

    python eval/shift/table.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cotexit.experiments.paired import wilson
from cotexit.calibration.shift import settings_shift, shift_check
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.coverage import calibration_first_cue_scores

ROOT = Path(__file__).resolve().parents[2]
ROWS = [  # name, run folder, levels kept (None: all), shifted by design
    ("T=0.6, all levels (as calibrated)", "eval/toy-arith/probe-eps0.02-t0.6", None, False),
    ("T=0.6, levels 1-2 only", "eval/toy-arith/probe-eps0.02-t0.6", (1, 2), True),
    ("T=0.6, levels 4-5 only", "eval/toy-arith/probe-eps0.02-t0.6", (4, 5), True),
    ("greedy (T=0)", "eval/shift/toy-arith-greedy", None, True),
    ("T=1.0", "eval/shift/toy-arith-t1.0", None, True),
    ("T=0.6, cue \"Wait\" only", "eval/shift/toy-arith-cues-wait", None, True),
]


def row_stats(rows: list[dict], epsilon: float) -> dict:
    n = len(rows)
    harms = sum(r["full"]["correct"] and not r["correct"] for r in rows)
    think_full = sum(r["full"]["thinking_tokens"] for r in rows)
    think_exit = sum(r["thinking_tokens"] for r in rows)
    low, high = wilson(harms, n)
    rate = harms / n
    if high <= epsilon:
        verdict = f"held: the whole interval lies at or below epsilon {epsilon:g}"
    elif rate <= epsilon:
        verdict = f"held on this sample: the harm rate is at most epsilon {epsilon:g} (its interval reaches above)"
    elif low > epsilon:
        verdict = f"did not hold: the whole interval lies above epsilon {epsilon:g}"
    else:
        verdict = f"was not shown to hold: the harm rate is above epsilon {epsilon:g} (its interval reaches below)"
    return {
        "n": n,
        "harm_rate": rate,
        "harm_ci95": [low, high],
        "accuracy_full": sum(r["full"]["correct"] for r in rows) / n,
        "accuracy_exit": sum(r["correct"] for r in rows) / n,
        "tokens_saved_pct": 100.0 * (1 - think_exit / think_full) if think_full else 0.0,
        "exit_rate": sum(r["exit"] is not None for r in rows) / n,
        "bound": verdict,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", default=str(ROOT / "probes" / "toy-arith"))
    parser.add_argument("--out", default=str(ROOT / "eval" / "shift" / "shift.json"))
    args = parser.parse_args()
    artifact = ProbeArtifact.load(args.probe)
    reference = calibration_first_cue_scores(artifact)
    if reference is None:
        raise SystemExit(f"{args.probe} carries no calibration evidence: nothing to compare first-cue scores with")
    epsilon = artifact.calibration["epsilon"]
    table = []
    for name, folder, levels, by_design in ROWS:
        path = ROOT / folder / "results.jsonl"
        if not path.is_file():
            print(f"skipping {name}: no {path}")
            continue
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if levels is not None:
            rows = [r for r in rows if r["metadata"].get("level") in levels]
        stats = row_stats(rows, epsilon)
        first = [r["probe_scores"][0] for r in rows if r.get("probe_scores")]
        check = shift_check(reference, first)
        run = json.loads((ROOT / folder / "run.json").read_text())
        settings = settings_shift(artifact.corpus.get("decode"), run["decode"], artifact.cues, run["cues"])
        table.append({"name": name, "run": folder, "levels": levels, "shifted_by_design": by_design, **stats,
                      "shift_check": {"shifted": check.shifted or settings is not None, "settings": settings,
                                      "scores": check.to_json()}})
    out = {"probe": str(Path(args.probe).relative_to(ROOT)) if Path(args.probe).is_relative_to(ROOT) else args.probe,
           "epsilon": epsilon, "delta": artifact.calibration["delta"], "threshold": artifact.threshold,
           "n_calibration_first_cues": int(reference.size), "command": "python eval/shift/table.py", "rows": table}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print("| run | n | harm rate (95% CI) | accuracy full -> exit | tokens saved | first-cue scores (KS) | decoding and cues | warning |")
    print("|---|---|---|---|---|---|---|---|")
    for r in table:
        c, s = r["shift_check"], r["shift_check"]["scores"]
        p = "-" if s["p_value"] is None else f"{s['p_value']:.2g}"
        print(
            f"| {r['name']} | {r['n']} | {100 * r['harm_rate']:.1f}% ({100 * r['harm_ci95'][0]:.1f}-{100 * r['harm_ci95'][1]:.1f}%) "
            f"| {100 * r['accuracy_full']:.1f}% -> {100 * r['accuracy_exit']:.1f}% | {r['tokens_saved_pct']:.1f}% "
            f"| D={s['statistic']:.3f}, p={p}{' (shifted)' if s['shifted'] else ''} "
            f"| {'differ' if c['settings'] else 'as calibrated'} | {'**fires**' if c['shifted'] else 'quiet'} |"
        )
    print()
    for r in table:
        print(f"- {r['name']}: the bound {r['bound']}.")


if __name__ == "__main__":
    main()
