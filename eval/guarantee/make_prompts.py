"""Write `arith` problems as a user's prompt file (`--prompts`): the user message only, no gold answer.

    python eval/guarantee/make_prompts.py --split calib --limit 1000 --out runs/guarantee/arith-calib-prompts.jsonl
    python eval/guarantee/make_prompts.py --split calib --levels 1,2 --out runs/guarantee/arith-calib-levels12-prompts.jsonl
    python eval/guarantee/make_prompts.py --split test --limit 1000 --levels 1,2 --with-answers --out runs/guarantee/arith-test-levels12.jsonl

`--with-answers` writes a problem file for `--suite FILE.jsonl` instead (`problem` and `answer`), to grade a run
on problems of one kind.

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
    parser.add_argument("--limit", type=int, help="first N problems of the split, before --levels (default: all)")
    parser.add_argument("--levels", help="comma-separated difficulty levels to keep (default: all)")
    parser.add_argument("--with-answers", action="store_true", help="a --suite problem file with gold answers")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import cotexit
    from cotexit.benchmarks.prompts import build_prompt

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    problems = cotexit.load_problems("arith", args.split, limit=args.limit)
    if args.levels:
        levels = {int(x) for x in args.levels.split(",")}
        problems = [p for p in problems if p.metadata.get("level") in levels]
    with out.open("w", encoding="utf-8") as f:
        for p in problems:
            row = {"id": p.id.replace("/", "-")}
            row |= {"problem": p.problem, "answer": p.answer} if args.with_answers else {"prompt": build_prompt(p)}
            f.write(json.dumps(row) + "\n")
    print(f"wrote {len(problems)} prompts to {out}")


if __name__ == "__main__":
    main()
