"""The exit runs alone (no paired full run), on any backend, through the Python API, checked row by row against a
committed `bench --exit` run of the decode loop: the same exit at the same cue, the same answer, the same text.

    python eval/agreement/exits_only.py --backend generate --out eval/agreement/generate-exits.json
    python eval/agreement/exits_only.py --backend vllm --out eval/agreement/vllm-exits.json     # in the vLLM environment

Half the work of `bench --exit` (which also decodes every problem without exits), for the engine-agreement check
after a refactor; `eval/agreement/run.sh` runs the paired benches where there is time for them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", required=True, choices=["hf", "generate", "vllm"])
    parser.add_argument("--reference", default=str(REPO / "eval/generate/hf-greedy"), help="a bench --exit run of the decode loop")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import cotexit
    from cotexit.benchmarks.provenance import provenance

    reference = {}
    for line in (Path(args.reference) / "results.jsonl").read_text().splitlines():
        row = json.loads(line)
        reference[row["id"]] = row
    problems = cotexit.load_problems("arith", "test", limit=args.limit)
    lm = cotexit.load_model("toy", weights=args.backend != "vllm")
    options = None
    if args.backend == "vllm":
        from cotexit.engines.vllm import VllmOptions

        options = VllmOptions(max_model_len=768, dtype="float32")
    began = time.perf_counter()
    same, differences = 0, []
    with cotexit.Engine(lm, backend=args.backend, exits=cotexit.Exits(probe=str(REPO / "probes/toy-arith")), engine_options=options) as engine:
        for start in range(0, len(problems), args.batch_size):
            for problem, s in zip(problems[start : start + args.batch_size], engine.solve(problems[start : start + args.batch_size])):
                ref = reference[problem.id]
                exit = None if s.exit is None else {k: getattr(s.exit, k) for k in ("policy", "cut", "step", "cue_index")}
                checks = {"exit": exit == ref["exit"], "answer": s.answer == ref["prediction"], "text": s.text == ref["text"]}
                if all(checks.values()):
                    same += 1
                else:
                    differences.append({"id": problem.id, **{k: v for k, v in checks.items()}, "exit": exit, "reference_exit": ref["exit"]})
            print(f"{start + args.batch_size:4d}/{len(problems)}: {same} same", file=sys.stderr)
    result = {
        "command": "python " + " ".join(sys.argv),
        "backend": args.backend,
        "reference": str(Path(args.reference).relative_to(REPO)),
        "problems": len(problems),
        "same_exit_answer_and_text": same,
        "differences": differences,
        "seconds": time.perf_counter() - began,
        "provenance": provenance({"backend": args.backend, "limit": args.limit, "batch_size": args.batch_size}),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.backend}: {same}/{len(problems)} rows with the reference's exit, answer and text")


if __name__ == "__main__":
    main()
