"""Issue-3 statistics of the toy model from a `cotexit collect` folder of the arith test split.

Accuracy when thinking to the end, cue counts, accuracy of the forced answer at
the first cue, and the oracle that stops at the first cue from which the
forced answer is right and stays right (the limit a length-exit controller is
measured against).

    python eval/toy-arith/oracle.py eval/toy-arith/sweep/sweep-data --out eval/toy-arith/oracle-t0.6.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cotexit.benchmarks.provenance import provenance
from cotexit.probes.cuedata import load_cue_data


def oracle_stats(folder: str) -> dict:
    data = load_cue_data(folder)
    groups = data.cues_by_problem()
    n = len(data.problems)
    full_right = sum(p["full_correct"] for p in data.problems)
    two_cues = sum(len(g) >= 2 for g in groups)
    with_cue = [(p, g) for p, g in zip(data.problems, groups) if g]
    first_right = sum(data.cues[g[0]]["forced_correct"] for _, g in with_cue)
    full_thinking = sum(p["thinking_tokens"] for p in data.problems)
    used, oracle_right = 0, 0
    for problem, group in zip(data.problems, groups):
        right = [data.cues[j]["forced_correct"] for j in group]
        stop = next((k for k in range(len(right)) if all(right[k:])), None)
        if stop is None:
            used += problem["thinking_tokens"]
            oracle_right += problem["full_correct"]
        else:
            used += data.cues[group[stop]]["thinking_tokens_before"]
            oracle_right += 1
    return {
        "n_problems": n,
        "accuracy_full": full_right / n,
        "frac_at_least_2_cues": two_cues / n,
        "mean_cues": len(data.cues) / n,
        "forced_first_cue_accuracy": first_right / len(with_cue) if with_cue else None,
        "forced_first_cue_accuracy_all_problems": first_right / n,
        "full_minus_first_cue_points": 100 * (full_right - first_right) / n,
        "mean_thinking_tokens_full": full_thinking / n,
        "oracle_accuracy": oracle_right / n,
        "oracle_thinking_saved_pct": 100 * (1 - used / full_thinking),
        "decode": data.meta.get("decode"),
        "definition": "oracle: stop at the first cue from which every forced answer is right; no stop otherwise",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    stats = oracle_stats(args.data)
    stats["command"] = "python " + " ".join(sys.argv)
    stats["provenance"] = provenance(vars(args))
    Path(args.out).write_text(json.dumps(stats, indent=2) + "\n")
    print(json.dumps({k: v for k, v in stats.items() if k not in ("provenance", "decode")}, indent=2))


if __name__ == "__main__":
    main()
