"""What the length-exit controller costs at inference: cue watching plus probe scoring, against plain decoding.

Both arms decode the same problems with the same settings in this process,
several times; the controller arm captures the probe's layers at
cues and scores every cue but is given no threshold (it never exits), so both
arms generate identical tokens and only the controller's work differs.

    python eval/overhead/bench_overhead.py --model toy --probe probes/toy-arith --limit 64 --repeats 5

Both arms decode each batch back to back (the order flips from batch to
batch), so the headline is the median over all (batch, repeat) pairs of the
controller's time against the plain run next to it, with its interquartile
range; the ratio of the two totals is written too. Pairing cancels the slow
drifts of a shared machine; run it with nothing else on the machine anyway.
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

    plain_decoder, controlled_decoder = plain(), controlled()
    batches = [(prompts[i : i + args.batch_size], keys[i : i + args.batch_size]) for i in range(0, len(prompts), args.batch_size)]

    # Per batch, both arms back to back (order flipping each time): a slow drift of a shared machine
    # hits both arms of a pair alike, and the paired ratios cancel it.
    times: dict[str, list[float]] = {"plain": [], "controller": []}
    pair_pct: list[float] = []
    rows: list = []
    for repeat in range(args.repeats):
        for b, (batch, batch_keys) in enumerate(batches):
            arms = [("plain", plain_decoder), ("controller", controlled_decoder)]
            seconds, outputs = {}, {}
            for name, decoder in arms if (repeat + b) % 2 == 0 else arms[::-1]:
                began = time.perf_counter()
                outputs[name] = decoder.generate(batch, batch_keys)
                seconds[name] = time.perf_counter() - began
                times[name].append(seconds[name])
            if [r.token_ids for r in outputs["plain"]] != [r.token_ids for r in outputs["controller"]]:
                sys.exit("the two arms generated different tokens: the comparison would be unfair")
            pair_pct.append(100.0 * (seconds["controller"] - seconds["plain"]) / seconds["plain"])
            if repeat == 0:
                rows += outputs["controller"]
    plain_s, ctrl_s = sum(times["plain"]), sum(times["controller"])
    ordered = sorted(pair_pct)
    lo, hi = ordered[int(0.25 * len(ordered))], ordered[int(0.75 * len(ordered))]
    result = {
        "overhead_pct": statistics.median(pair_pct),
        "overhead_pct_interquartile": [lo, hi],
        "overhead_pct_of_totals": 100.0 * (ctrl_s - plain_s) / plain_s,
        "pairs": len(pair_pct),
        "plain_s_total": plain_s,
        "controller_s_total": ctrl_s,
        "overhead_pct_per_pair": pair_pct,
        "problems": len(problems),
        "generated_tokens": sum(len(r.token_ids) for r in rows),
        "cues": sum(len(r.cues) for r in rows),
        "torch_threads": torch.get_num_threads(),
        "command": "python " + " ".join(sys.argv),
        "provenance": provenance(vars(args)),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    keys_shown = ("overhead_pct", "overhead_pct_interquartile", "overhead_pct_of_totals", "pairs", "cues")
    print(json.dumps({k: result[k] for k in keys_shown}, indent=2))


if __name__ == "__main__":
    main()
