"""The controller's cost on vLLM, close up: plain engine against controller engine in turn, then a profile.

One in-process vLLM, one batch of prompts, greedy. `--rounds` times each: the
engine with cue watching only (vLLM started with the model as it is), then
the engine with the controller (vLLM started with cotexit's capture model for
the probe's layers, the probe scored at every cue, never exiting). Then one
controller batch under cProfile: the share of the run spent in the logits
processor's `apply` (which includes reading the probe layers' rows), and in
the capture model's own work in its forward (copying the layers' states into
its buffer; the model's forward it calls is not counted). Writes
`eval/vllm/profile_<model>.json` with the command and provenance.

    VLLM_CPU_OMP_THREADS_BIND=0-1 python eval/vllm/profile_controller.py --model smollm2-135m --suite gsm8k
    VLLM_CPU_OMP_THREADS_BIND=0-1 python eval/vllm/profile_controller.py --model toy --suite arith \
        --probe probes/toy-arith --max-model-len 768
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toy")
    parser.add_argument("--suite", default="arith")
    parser.add_argument("--probe", help="probe artifact (default: a random never-exiting one)")
    parser.add_argument("--limit", type=int, default=32, help="prompts, decoded as one batch")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--max-model-len", type=int, default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--enforce-eager", action="store_true", help="vLLM in eager mode (default: compiled, vLLM's own)")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_throughput import setup

    from cotexit.benchmarks.provenance import provenance
    from cotexit.controller import CueConfig
    from cotexit.engines.decoding import DecodeConfig, SamplingConfig
    from cotexit.engines.vllm import VllmEngine, VllmOptions
    from cotexit.probes.controller import ProbeExitPolicy

    lm, artifact, prompts, keys = setup(args)
    options = VllmOptions(max_model_len=args.max_model_len, dtype="float32", enforce_eager=args.enforce_eager)
    policy = ProbeExitPolicy(artifact, use_calibrated=False)  # scores every cue, never exits
    plain = VllmEngine(lm, DecodeConfig(args.max_new_tokens, 8), cues=CueConfig(), options=options)
    plain(prompts, keys)  # warm-up

    def controller():
        return VllmEngine(lm, DecodeConfig(args.max_new_tokens, 8), cues=CueConfig(), policies=[policy],
                          capture=policy.capture(), options=options)

    controller().close()  # starts (and compiles) the capture model's LLM before anything is timed
    seconds: dict[str, list[float]] = {"cue_watching": [], "controller": []}
    for _ in range(args.rounds):
        for name in seconds:
            engine = plain if name == "cue_watching" else controller()
            began = time.perf_counter()
            engine(prompts, keys)
            seconds[name].append(time.perf_counter() - began)
            if engine is not plain:
                engine.close()

    engine = controller()
    profiler = cProfile.Profile()
    profiler.enable()
    began = time.perf_counter()
    rows = engine(prompts, keys)
    total = time.perf_counter() - began
    profiler.disable()
    engine.close()
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (cc, nc, tottime, cumtime, callers)}

    def cumulative(file_end: str, name: str) -> float:
        return sum(v[3] for (f, _, n), v in stats.items() if f.endswith(file_end) and n == name)

    def own_work(file_end: str, name: str) -> float:
        """A function's own time plus that of what it calls, except the `forward`s it calls (the model's)."""
        keys = [k for k in stats if k[0].endswith(file_end) and k[2] == name]
        total = sum(stats[k][2] for k in keys)
        for callee, value in stats.items():
            if callee[2] != "forward":
                total += sum(c[3] for caller, c in value[4].items() if caller in keys)
        return total

    result = {
        "command": "python " + " ".join(sys.argv),
        "model": args.model,
        "prompts": len(prompts),
        "max_new_tokens": args.max_new_tokens,
        "cues": sum(len(r.cues) for r in rows),
        "seconds_per_batch": seconds,
        "profiled_batch_seconds": total,
        "processor_apply_share": cumulative("cotexit/engines/vllm/processor.py", "apply") / total,
        "vllm_mode": "eager" if args.enforce_eager else "compiled",
        "capture_copy_share": own_work("cotexit/engines/vllm/model_capture.py", "forward") / total,
        "provenance": provenance(vars(args), {"suite": args.suite}),
    }
    out = Path(args.out or f"eval/vllm/profile_{args.model}.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("seconds_per_batch", "processor_apply_share", "capture_copy_share")}, indent=2))


if __name__ == "__main__":
    main()
