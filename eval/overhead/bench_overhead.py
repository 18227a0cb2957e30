"""What the length-exit controller costs at inference: cue watching plus probe scoring, against plain decoding.

Both arms decode the same problems with the same settings in this process;
the controller arm captures the probe's layers at cues and scores every cue
but is given no threshold (it never exits), so both arms generate identical
tokens and only the controller's work differs.

    python eval/overhead/bench_overhead.py --model toy --probe probes/toy-arith --limit 64 --repeats 10

The two arms run side by side, one decode step each in turn (which goes first
flips every step, and which starts flips every batch), and each step is timed: both arms see the machine in the
same state to within milliseconds, so the slow drifts and bursts of a shared
machine hit them alike. The headline is the controller's total step time
against the plain arm's over everything, with a bootstrap 95% interval over
batches; the per-batch ratios give its spread. Run it with nothing else on
the machine anyway.

The controller's session installs its hooks for its lifetime, so the plain
arm's forwards, interleaved with it, pass through them idle (each returns at
once). That makes the reported overhead smaller by the cost of three idle
hook calls per step: about a microsecond each, against milliseconds a step.

`--treatment` swaps the controller for one of its parts (or for plain
decoding again, the noise floor); those runs go to `eval/overhead/parts/`.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import torch

from cotexit.benchmarks.loading import load_problems
from cotexit.benchmarks.prompts import build_prompt
from cotexit.benchmarks.provenance import provenance
from cotexit.engines.decoding import DecodeConfig, SamplingConfig
from cotexit.engines.loop import Decoder
from cotexit.engines.loop.step import full_forward
from cotexit.models import chat_prompt, load_model
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.controller import ProbeExitPolicy

TREATMENTS = {
    "controller": "cue watching, capture of the probe's layers and probe scores at every cue",
    "cues": "cue watching alone",
    "capture": "capture alone (hooks installed for the session)",
    "capture-hooks-per-step": "capture with hooks registered and removed at every step",
    "plain": "plain decoding again (an A/A run: the noise floor)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toy")
    parser.add_argument("--probe", default="probes/toy-arith")
    parser.add_argument("--suite", default="arith")
    parser.add_argument("--limit", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=1024)
    parser.add_argument(
        "--treatment",
        choices=sorted(TREATMENTS),
        default="controller",
        help="what runs against plain decoding: the controller (the headline), or one of its parts: "
        + "; ".join(f"{name}: {text}" for name, text in sorted(TREATMENTS.items())),
    )
    parser.add_argument("--out", default=None, help="default: eval/overhead/overhead_toy.json for the controller, "
                        "eval/overhead/parts/<treatment>.json otherwise")
    args = parser.parse_args()
    out = Path(args.out or ("eval/overhead/overhead_toy.json" if args.treatment == "controller" else f"eval/overhead/parts/{args.treatment}.json"))

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
        capture = policy.capture()
        if args.treatment == "plain":
            return plain()
        if args.treatment == "cues":
            return Decoder(lm.model, lm.tokenizer, lm.fmt, config)
        if args.treatment == "capture":
            return Decoder(lm.model, lm.tokenizer, lm.fmt, config, capture=capture, watch_cues=False)
        if args.treatment == "capture-hooks-per-step":
            # Not `full_forward` itself, so the session installs no tap and each step registers its own hooks.
            def per_step(*step_args):
                return full_forward(*step_args)

            return Decoder(lm.model, lm.tokenizer, lm.fmt, config, capture=capture, watch_cues=False, step_forward=per_step)
        return Decoder(lm.model, lm.tokenizer, lm.fmt, config, capture=capture, policies=[policy])

    plain_decoder, controlled_decoder = plain(), controlled()
    batches = [(prompts[i : i + args.batch_size], keys[i : i + args.batch_size]) for i in range(0, len(prompts), args.batch_size)]

    times: dict[str, list[float]] = {"plain": [], "controller": []}  # per (repeat, batch)
    pair_pct: list[float] = []
    rows: list = []
    for repeat in range(args.repeats):
        for b, (batch, batch_keys) in enumerate(batches):
            arms = {"plain": plain_decoder, "controller": controlled_decoder}
            seconds, results = timed_side_by_side(arms, batch, batch_keys, flip=(repeat + b) % 2 == 1)
            if [r.token_ids for r in results["plain"]] != [r.token_ids for r in results["controller"]]:
                sys.exit("the two arms generated different tokens: the comparison would be unfair")
            for name in times:
                times[name].append(seconds[name])
            pair_pct.append(100.0 * (seconds["controller"] - seconds["plain"]) / seconds["plain"])
            if repeat == 0:
                rows += results["controller"]
    plain_s, ctrl_s = sum(times["plain"]), sum(times["controller"])
    # Bootstrap over batches: the spread of the headline ratio that the batch-to-batch noise allows.
    rng = random.Random(0)
    boot = []
    for _ in range(2000):
        picks = [rng.randrange(len(pair_pct)) for _ in pair_pct]
        p, c = sum(times["plain"][i] for i in picks), sum(times["controller"][i] for i in picks)
        boot.append(100.0 * (c - p) / p)
    boot.sort()
    ordered = sorted(pair_pct)
    lo, hi = ordered[int(0.25 * len(ordered))], ordered[int(0.75 * len(ordered))]
    result = {
        "overhead_pct": 100.0 * (ctrl_s - plain_s) / plain_s,
        "overhead_pct_ci95": [boot[int(0.025 * len(boot))], boot[int(0.975 * len(boot)) - 1]],
        "overhead_pct_per_batch_median": statistics.median(pair_pct),
        "overhead_pct_per_batch_interquartile": [lo, hi],
        "batches": len(pair_pct),
        "plain_s_total": plain_s,
        "controller_s_total": ctrl_s,
        "overhead_pct_per_batch": pair_pct,
        "treatment": args.treatment,
        "problems": len(problems),
        "generated_tokens": sum(len(r.token_ids) for r in rows),
        "cues": sum(len(r.cues) for r in rows),
        "torch_threads": torch.get_num_threads(),
        "command": "python " + " ".join(sys.argv),
        "provenance": provenance(vars(args)),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    keys_shown = ("overhead_pct", "overhead_pct_ci95", "overhead_pct_per_batch_median", "overhead_pct_per_batch_interquartile", "batches", "cues")
    print(json.dumps({k: result[k] for k in keys_shown}, indent=2))


def timed_side_by_side(
    decoders: dict[str, Decoder], prompts: list[str], keys: list[str], *, flip: bool = False
) -> tuple[dict, dict]:
    """Decode `prompts` with every decoder, one step each in turn; (seconds per decoder, results per decoder).

    `flip` reverses which decoder starts (its session is made first and it steps first); callers alternate
    it, since the second of two steps in a row runs on warmer caches.
    """
    names = list(decoders)[::-1] if flip else list(decoders)
    seconds = dict.fromkeys(names, 0.0)
    sessions, running = {}, {}
    for name in names:
        began = time.perf_counter()
        sessions[name] = decoders[name].session(prompts, keys)  # runs the prompt through the model
        running[name] = sessions[name].steps()
        seconds[name] += time.perf_counter() - began
    turn = 0
    while running:
        order = [n for n in names if n in running]
        for name in order if turn % 2 == 0 else order[::-1]:
            began = time.perf_counter()
            finished = next(running[name], None) is None
            seconds[name] += time.perf_counter() - began
            if finished:
                del running[name]
        turn += 1
    return seconds, {name: session.results() for name, session in sessions.items()}


if __name__ == "__main__":
    main()
