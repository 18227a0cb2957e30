"""Write `arith` problems as a user's prompt file (`--prompts`): the user message only, no gold answer.

    python eval/guarantee/make_prompts.py --split calib --limit 1000 --out runs/guarantee/arith-calib-prompts.jsonl

Each line is `{"id": ..., "prompt": ...}` with the prompt `bench` itself would send for the problem (the problem and
the boxed-answer instruction), so that a probe calibrated on it without gold answers is calibrated on the traffic
`bench --suite arith` then runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="calib")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import cotexit
    from cotexit.benchmarks.prompts import build_prompt

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    problems = cotexit.load_problems("arith", args.split, limit=args.limit)
    with out.open("w", encoding="utf-8") as f:
        for p in problems:
            f.write(json.dumps({"id": p.id.replace("/", "-"), "prompt": build_prompt(p)}) + "\n")
    print(f"wrote {len(problems)} prompts to {out}")


if __name__ == "__main__":
    main()
