"""Compare two engines' `bench --exit` runs (by default `--backend generate` with `--backend hf`), row by row.

Greedy: the share of problems where both engines make the same exit decision
at the same cue (or neither exits) and give the same answer, and the share
whose full runs (no exit) have identical text; every difference is listed
with where the two texts first part. Sampled (T=0.6): the engines draw from
different random streams, so rows are not comparable one by one; the exit
rate and the thinking tokens saved are compared with their 95% intervals
(Wilson for the rate, a bootstrap over problems for the saving).

    python eval/generate/compare.py            # writes eval/generate/comparison.json and prints a summary
    python eval/generate/compare.py --dir eval/vllm --a hf-greedy --b vllm-greedy --sampled "" --out eval/vllm/comparison.json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load(folder: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines() if line.strip()]
    return {r["id"]: r for r in rows}


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def saved_pct(rows: list[dict]) -> float:
    full = sum(r["full"]["thinking_tokens"] for r in rows)
    return 100.0 * (full - sum(r["thinking_tokens"] for r in rows)) / full


def bootstrap(rows: list[dict], stat, reps: int = 2000, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    values = sorted(stat([rng.choice(rows) for _ in rows]) for _ in range(reps))
    return [values[int(0.025 * reps)], values[int(0.975 * reps) - 1]]


def first_difference(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def exit_key(row: dict) -> tuple | None:
    return None if row["exit"] is None else (row["exit"]["cut"], row["exit"]["cue_index"])


def greedy(hf: dict[str, dict], gen: dict[str, dict]) -> dict:
    """Row by row; `hf` is the reference engine's run (`a` in the keys), `gen` the other's (`b`)."""
    ids = sorted(set(hf) & set(gen), key=lambda i: int(i.rsplit("/", 1)[-1]))
    same_exit = same_answer = same_both = same_full = 0
    differences = []
    for i in ids:
        a, b = hf[i], gen[i]
        exit_ok = exit_key(a) == exit_key(b)
        answer_ok = a["prediction"] == b["prediction"]
        full_ok = a["full"]["text_sha256"] == b["full"]["text_sha256"]
        same_exit += exit_ok
        same_answer += answer_ok
        same_both += exit_ok and answer_ok
        text_ok = a["text"] == b["text"]
        if not (exit_ok and answer_ok and text_ok):
            at = first_difference(a["text"], b["text"])
            differences.append(
                {
                    "id": i,
                    "exit_a": a["exit"],
                    "exit_b": b["exit"],
                    "answer_a": a["prediction"],
                    "answer_b": b["prediction"],
                    "probe_scores_a": a.get("probe_scores"),
                    "probe_scores_b": b.get("probe_scores"),
                    "texts_part_at_char": at,
                    "a_text_there": a["text"][max(0, at - 40) : at + 40],
                    "b_text_there": b["text"][max(0, at - 40) : at + 40],
                }
            )
        same_full += full_ok
    max_score_gap = max(
        (abs(x - y) for i in ids for x, y in zip(hf[i].get("probe_scores") or [], gen[i].get("probe_scores") or [])), default=0.0
    )
    n = len(ids)
    return {
        "n": n,
        "same_exit_and_answer": same_both / n,
        "same_exit": same_exit / n,
        "same_answer": same_answer / n,
        "full_runs_same_text": same_full / n,
        "exit_rate_a": sum(hf[i]["exit"] is not None for i in ids) / n,
        "exit_rate_b": sum(gen[i]["exit"] is not None for i in ids) / n,
        "accuracy_a": sum(hf[i]["correct"] for i in ids) / n,
        "accuracy_b": sum(gen[i]["correct"] for i in ids) / n,
        "max_probe_score_gap_at_shared_cues": max_score_gap,
        "differences": differences,
    }


def sampled(hf: dict[str, dict], gen: dict[str, dict], names: tuple[str, str] = ("hf", "generate")) -> dict:
    out = {}
    for name, rows in ((names[0], list(hf.values())), (names[1], list(gen.values()))):
        n = len(rows)
        exits = sum(r["exit"] is not None for r in rows)
        out[name] = {
            "n": n,
            "exit_rate": exits / n,
            "exit_rate_ci95": wilson(exits, n),
            "tokens_saved_pct": saved_pct(rows),
            "tokens_saved_pct_ci95": bootstrap(rows, saved_pct),
            "accuracy_full": sum(r["full"]["correct"] for r in rows) / n,
            "accuracy_exit": sum(r["correct"] for r in rows) / n,
        }
    a, b = out[names[0]], out[names[1]]
    out["exit_rate_within_intervals"] = (
        a["exit_rate_ci95"][0] <= b["exit_rate"] <= a["exit_rate_ci95"][1]
        and b["exit_rate_ci95"][0] <= a["exit_rate"] <= b["exit_rate_ci95"][1]
    )
    out["tokens_saved_within_intervals"] = (
        a["tokens_saved_pct_ci95"][0] <= b["tokens_saved_pct"] <= a["tokens_saved_pct_ci95"][1]
        and b["tokens_saved_pct_ci95"][0] <= a["tokens_saved_pct"] <= b["tokens_saved_pct_ci95"][1]
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=str(HERE), help="folder holding the runs")
    parser.add_argument("--a", default="hf-greedy", help="the reference engine's greedy run (default: hf-greedy)")
    parser.add_argument("--b", default="generate-greedy", help="the other engine's greedy run (default: generate-greedy)")
    parser.add_argument("--sampled", default="hf-t0.6,generate-t0.6", help="the sampled runs a,b ('' for none)")
    parser.add_argument("--out", default=None, help="default: DIR/comparison.json")
    args = parser.parse_args()
    root = Path(args.dir)
    result = {"command": "python " + " ".join(sys.argv), "greedy_runs": [args.a, args.b]}
    result["greedy"] = g = greedy(load(root / args.a), load(root / args.b))
    print(f"greedy, {g['n']} problems: same exit and answer {g['same_exit_and_answer']:.1%}, "
          f"full runs same text {g['full_runs_same_text']:.1%}, {len(g['differences'])} differing rows")
    if args.sampled:
        a, b = args.sampled.split(",")
        result["sampled_runs"] = [a, b]
        result["sampled"] = s = sampled(load(root / a), load(root / b), (a, b))
        for name in (a, b):
            r = s[name]
            print(f"{name}: exit rate {r['exit_rate']:.1%} {r['exit_rate_ci95']}, "
                  f"tokens saved {r['tokens_saved_pct']:.1f}% {r['tokens_saved_pct_ci95']}")
    out = Path(args.out) if args.out else root / "comparison.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
