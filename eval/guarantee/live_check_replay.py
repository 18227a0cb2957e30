"""The live check (`cotexit.experiments.live_check`) over committed paired runs of the shipped probe, row by row in
the order `bench` wrote them: what `bench` would have said during each run, and at which problem.

    python eval/guarantee/live_check_replay.py      # writes eval/guarantee/live-check-replay.json

The runs are `bench --exit` runs of `probes/toy-arith` (accuracy-drop, epsilon 0.02, delta 0.1, calibrated at
T=0.6) on `arith` test problems, committed by earlier sessions (`eval/toy-arith`, `eval/shift`; their commands are
in those READMEs); the guarantee each was run under is read from its own `summary.json`. No model runs here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNS = {
    "T=0.6 (as calibrated)": ("eval/toy-arith/probe-eps0.02-t0.6", None),
    "T=0.6, levels 1-2 only": ("eval/toy-arith/probe-eps0.02-t0.6", (1, 2)),
    "greedy (T=0)": ("eval/shift/toy-arith-greedy", None),
    "T=1.0": ("eval/shift/toy-arith-t1.0", None),
    "T=0.6, cue 'Wait' only": ("eval/shift/toy-arith-cues-wait", None),
}


def main() -> None:
    from cotexit.benchmarks.provenance import provenance
    from cotexit.experiments.live_check import live_check
    from cotexit.experiments.paired import wilson

    out = {}
    for name, (folder, levels) in RUNS.items():
        summary = json.loads((REPO / folder / "summary.json").read_text())
        rows = [json.loads(line) for line in (REPO / folder / "results.jsonl").read_text().splitlines()]
        if levels is not None:
            rows = [r for r in rows if r["metadata"].get("level") in levels]
        harms = sum(bool(r["full"]["correct"] and not r["correct"]) for r in rows)
        check = live_check(rows, summary["guarantee"])
        out[name] = {
            "run": folder,
            "levels": levels,
            "n": len(rows),
            "harm_rate": harms / len(rows),
            "harm_ci95": wilson(harms, len(rows)),
            "live_check": check,
        }
        print(f"{name:26s} n={len(rows):4d} harm {harms / len(rows):.1%}  {check['message']}", file=sys.stderr)
    result = {"command": "python eval/guarantee/live_check_replay.py", "runs": out,
              **provenance({"runs": {k: v[0] for k, v in RUNS.items()}}, {})}
    path = REPO / "eval/guarantee/live-check-replay.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
