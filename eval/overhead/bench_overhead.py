"""What the length-exit controller costs at inference: cue watching plus probe scoring, against plain decoding.

Both arms decode the same problems with the same settings in this process,
alternating (the order flips each repeat, so neither arm always runs on a
warmer machine), several times; the controller arm captures the probe's layers at
cues and scores every cue but is given no threshold (it never exits), so both
arms generate identical tokens and only the controller's work differs.

    python eval/overhead/bench_overhead.py --model toy --probe probes/toy-arith --limit 64 --repeats 5

The headline is the median over repeats of each repeat's own overhead
(controller against the plain run next to it), which cancels slow drifts
of a shared machine better than the ratio of the two medians (also written).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from cotexit.benchmarks.loading import load_problems
from cotexit.benchmarks.prompts import build_prompt
from cotexit.benchmarks.provenance import provenance
from cotexit.generation import DecodeConfig, Decoder, SamplingConfig
from cotexit.models import chat_prompt, load_model
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.controller import ProbeExitPolicy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toy")
    parser.add_argument("--probe", default="probes/toy-arith")
    parser.add_argument("--suite", default="arith")
    parser.add_argument("--limit", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=1024)
    parser.add_argument("--out", default="eval/overhead/overhead_toy.json")
    args = parser.parse_args()

    lm = load_model(args.model, device="cpu")
    artifact = ProbeArtifact.load(args.probe)
    artifact.check_model(lm.fingerprint())
    problems = load_problems(args.suite, None, args.limit)
    prompts = [chat_prompt(lm.tokenizer, build_prompt(p)) for p in problems]
    keys = [p.id for p in problems]
    config = DecodeConfig(max_new_tokens=args.max_new_tokens, sampling=SamplingConfig(temperature=0.6, seed=0))

    def plain() -> Decoder:
        return Decoder(lm.model, lm.tokenizer, lm.fmt, config, watch_cues=False)

    def controlled() -> Decoder:
        policy = ProbeExitPolicy(artifact, None, use_calibrated=False)  # scores every cue, never exits
        return Decoder(lm.model, lm.tokenizer, lm.fmt, config, capture=policy.capture(), policies=[policy])

    def timed(make) -> tuple[float, list]:
        decoder, rows, began = make(), [], time.perf_counter()
        for start in range(0, len(prompts), args.batch_size):
            rows += decoder.generate(prompts[start : start + args.batch_size], keys[start : start + args.batch_size])
        return time.perf_counter() - began, rows

    times: dict[str, list[float]] = {"plain": [], "controller": []}
    reference = None
    arms = (("plain", plain), ("controller", controlled))
    for repeat in range(args.repeats):
        for name, make in arms if repeat % 2 == 0 else arms[::-1]:
            seconds, rows = timed(make)
            times[name].append(seconds)
            tokens = [r.token_ids for r in rows]
            if reference is None:
                reference = tokens
            elif tokens != reference:
                sys.exit("the two arms generated different tokens: the comparison would be unfair")
    plain_s, ctrl_s = statistics.median(times["plain"]), statistics.median(times["controller"])
    paired = [100.0 * (c - p) / p for p, c in zip(times["plain"], times["controller"])]
    result = {
        "overhead_pct": statistics.median(paired),
        "overhead_pct_per_repeat": paired,
        "overhead_pct_of_medians": 100.0 * (ctrl_s - plain_s) / plain_s,
        "plain_s_median": plain_s,
        "controller_s_median": ctrl_s,
        "times": times,
        "problems": len(problems),
        "generated_tokens": sum(len(t) for t in reference),
        "cues": sum(len(r.cues) for r in rows),
        "torch_threads": torch.get_num_threads(),
        "command": "python " + " ".join(sys.argv),
        "provenance": provenance(vars(args)),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("overhead_pct", "plain_s_median", "controller_s_median", "cues")}, indent=2))


if __name__ == "__main__":
    main()
