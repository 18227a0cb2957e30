"""The served speedup: a load benchmark against real `vllm serve`s of the toy model on `arith` test prompts.

Two servers run side by side on localhost ports, started and stopped here
(`servers.py`); five arms send the same prompts with the same per-request
seeds (`cotexit.experiments.audit.pair_seed`), so until an arm stops
thinking every arm samples the same tokens:

- `plain`, `plain_again`: the plug-in's server, `"cotexit_probe": "none"`
  (an A/A pair: the run's noise);
- `probe`: the plug-in's server with the shipped keep-cue probe;
- `bare`: a server without the plug-in (vLLM as a user runs it, with the
  `deepseek_r1` reasoning parser), no thinking limit;
- `budget`: the same server with vLLM's own `thinking_token_budget`, its
  forced end string the toy's forced exit (`--reasoning-config`), at the
  budget whose accuracy matches the probe's: the smallest of
  `--sweep-budgets` whose accuracy on `--sweep-prompts` `arith` calib
  prompts (concurrency 32) is at least the probe's on the same prompts
  (or the unlimited server's, if lower), unless `--budget` names it.

Each round runs every arm at every concurrency on that round's share of
the prompts, the arms' order rotated from round to round; an arm's figures
sum its passes. Requests are chat completions, not streamed, at
`--temperature`; latency is a request's send to its last byte. Prompts come
from `cotexit.experiments.audit.load_items` (as `cotexit audit` poses
them) and are graded as it grades them (`completion_texts`,
`predicted_answer`, `grade_answer`). The figures, the ratios the issue's
targets name and the table and plot are `bench_report.py`'s.

    python eval/serve/bench_serve.py --eager --prompts 1:32,8:128,32:256 --out eval/serve/bench_eager

writes OUT.json (summary, ratios, the command, servers, device, versions,
provenance), OUT.requests.jsonl (one line per request), OUT.md and OUT.png.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from client import Outcome, closed_loop, thinking_tokens
from servers import LOGS, ROOT, Server, ServerSpec, export_code

from cotexit.benchmarks.grading import grade_answer, predicted_answer
from cotexit.experiments.audit import AuditItem, load_items, pair_seed
from cotexit.experiments.served import completion_texts
from cotexit.models.thinking import get_format

PROBE = "probes/toy-arith-keep-cue"
PROBE_NAME = Path(PROBE).name


@dataclass(frozen=True)
class Arm:
    """One way of serving a request: which server, what the request adds (`xargs`: vLLM's `vllm_xargs`;
    `budget`: `thinking_token_budget`)."""

    name: str
    server: str
    xargs: dict[str, str] | None = None
    budget: int | None = None

    def body(self, item: AuditItem, temperature: float, seed: int, max_tokens: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": "toy", "messages": [{"role": "user", "content": item.prompt}], "temperature": temperature,
            "seed": pair_seed(seed, item.id), "skip_special_tokens": False, "return_token_ids": True,
        }
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if self.xargs is not None:
            body["vllm_xargs"] = dict(self.xargs)
        if self.budget is not None:
            body["thinking_token_budget"] = self.budget
        return body


def server_specs(compiled: bool) -> dict[str, ServerSpec]:
    forced_exit = get_format("toy").forced_exit  # "\n</think>\nThe final answer is \\boxed{"
    return {
        "plugin": ServerSpec("plugin", probes=(PROBE,), compiled=compiled),
        "bare": ServerSpec("bare", reasoning_parser="deepseek_r1", reasoning_config={"reasoning_end_str": forced_exit},
                           compiled=compiled, cotexit_entry_points=False),
    }


def arms(budget: int | None) -> list[Arm]:
    main = [
        Arm("plain", "plugin", {"cotexit_probe": "none"}),
        Arm("plain_again", "plugin", {"cotexit_probe": "none"}),
        Arm("probe", "plugin", {"cotexit_probe": PROBE_NAME}),
        Arm("bare", "bare"),
    ]
    return main + ([Arm("budget", "bare", budget=budget)] if budget is not None else [])


def request_row(arm: Arm, item: AuditItem, outcome: Outcome, concurrency: int, phase: str, rnd: int) -> dict[str, Any]:
    """One request's line: how it went, its tokens, its answer and grade."""
    row: dict[str, Any] = {
        "phase": phase, "round": rnd, "arm": arm.name, "budget": arm.budget, "concurrency": concurrency,
        "id": item.id, "kind": outcome.kind, "status": outcome.status, "latency_s": round(outcome.latency_s, 4),
    }
    if outcome.kind != "ok":
        row["problem"] = outcome.problem or json.dumps(outcome.response)[:300]
        return row
    response = outcome.response or {}
    choice = response["choices"][0]
    text, answer_text = completion_texts(response)
    prediction = predicted_answer(SimpleNamespace(text=text, answer_text=answer_text))
    row.update({
        "completion_tokens": (response.get("usage") or {}).get("completion_tokens"),
        "thinking_tokens": thinking_tokens(choice),
        "finish_reason": choice.get("finish_reason"),
        "prediction": prediction,
        "correct": grade_answer(item.answer, prediction),
    })
    return row


class Bench:
    """The running servers and what the passes produced: request rows and one record per pass."""

    def __init__(self, servers: dict[str, Server], args: argparse.Namespace) -> None:
        self.servers, self.args = servers, args
        self.rows: list[dict[str, Any]] = []
        self.passes: list[dict[str, Any]] = []

    def run_pass(self, arm: Arm, items: list[AuditItem], concurrency: int, phase: str, rnd: int) -> list[dict]:
        """Send `items` as `arm` at `concurrency`; record the rows and the pass (wall time, each server's CPU)."""
        server = self.servers[arm.server]
        bodies = [{"body": arm.body(i, self.args.temperature, self.args.seed, self.args.max_tokens)} for i in items]
        cpu_before = {name: s.cpu_s() for name, s in self.servers.items()}
        load = os.getloadavg()[0]
        outcomes, wall = asyncio.run(closed_loop(server.url, bodies, concurrency, timeout_s=self.args.timeout))
        cpu = {name: round(s.cpu_s() - cpu_before[name], 2) for name, s in self.servers.items()}
        rows = [request_row(arm, item, o, concurrency, phase, rnd) for item, o in zip(items, outcomes)]
        self.rows += rows
        self.passes.append({"phase": phase, "round": rnd, "arm": arm.name, "budget": arm.budget,
                            "concurrency": concurrency, "requests": len(items), "wall_s": round(wall, 3),
                            "server_cpu_s": cpu, "load_1min_before": load})
        ok = [r for r in rows if r["kind"] == "ok"]
        acc = sum(bool(r["correct"]) for r in ok) / max(len(ok), 1)
        print(f"[{phase} r{rnd}] {arm.name:<12} c={concurrency:<3} n={len(items):<4} {wall:7.1f} s "
              f"{len(items) / wall:6.2f} req/s  acc {acc:.3f}  errors {len(rows) - len(ok)}  cpu {cpu}", flush=True)
        return rows


def warm_up(bench: Bench, items: list[AuditItem]) -> None:
    for arm in arms(budget=64):
        if arm.name != "plain_again":
            bench.run_pass(arm, items, 8, "warmup", 0)


def sweep(bench: Bench, items: list[AuditItem], budgets: list[int]) -> int:
    """The smallest budget whose accuracy on `items` (concurrency 32) reaches the probe's, or the unlimited
    server's where that is lower (a budget cannot be expected to beat no limit); else the largest tried.
    Budgets are tried from the smallest and the sweep stops at the first that matches."""
    def accuracy(rows: list[dict]) -> float:
        return sum(bool(r.get("correct")) for r in rows) / len(rows)

    probe = accuracy(bench.run_pass(Arm("probe", "plugin", {"cotexit_probe": PROBE_NAME}), items, 32, "sweep", 0))
    bare = accuracy(bench.run_pass(Arm("bare", "bare"), items, 32, "sweep", 0))
    target, chosen = min(probe, bare), max(budgets)
    for budget in sorted(budgets):
        if accuracy(bench.run_pass(Arm("budget", "bare", budget=budget), items, 32, "sweep", 0)) >= target:
            chosen = budget
            break
    print(f"budget matching accuracy {target:.3f} (probe {probe:.3f}, bare {bare:.3f}) on the sweep prompts: {chosen}",
          flush=True)
    return chosen


def main_rounds(bench: Bench, items: list[AuditItem], budget: int) -> None:
    """Every arm at every concurrency on each round's share of the first N prompts, the order rotated."""
    args, run_arms = bench.args, arms(budget)
    for rnd in range(args.rounds):
        for ci, (concurrency, n) in enumerate(args.prompts):
            share = items[:n][rnd::args.rounds]
            shift = (rnd + ci) % len(run_arms)
            for arm in run_arms[shift:] + run_arms[:shift]:
                bench.run_pass(arm, share, concurrency, "main", rnd)


def parse_prompts(text: str) -> list[tuple[int, int]]:
    """"1:16,8:64,32:128" -> [(1, 16), (8, 64), (32, 128)]: prompts per arm at each concurrency."""
    try:
        pairs = [tuple(int(x) for x in part.split(":")) for part in text.split(",")]
    except ValueError:
        pairs = []
    if not pairs or any(len(p) != 2 or p[0] < 1 or p[1] < 1 for p in pairs):
        raise argparse.ArgumentTypeError(f"--prompts must be CONCURRENCY:PROMPTS,... e.g. 1:16,8:64,32:128, got {text!r}")
    return [(c, n) for c, n in pairs]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--eager", dest="compiled", action="store_false", help="servers run --enforce-eager (default)")
    mode.add_argument("--compiled", dest="compiled", action="store_true", help="servers run vLLM's default compilation")
    p.set_defaults(compiled=False)
    p.add_argument("--prompts", type=parse_prompts, default=parse_prompts("1:32,8:128,32:256"),
                   help="CONCURRENCY:PROMPTS per arm, comma-separated (default 1:32,8:128,32:256)")
    p.add_argument("--rounds", type=int, default=2, help="rounds; each runs every arm on 1/ROUNDS of the prompts")
    p.add_argument("--budget", type=int, help="thinking_token_budget for the budget arm (skips the sweep)")
    p.add_argument("--sweep-budgets", default="192,256,320,384,448,512", help="budgets the sweep tries, comma-separated")
    p.add_argument("--sweep-prompts", type=int, default=128, help="arith calib prompts the sweep runs (default 128)")
    p.add_argument("--no-budget", action="store_true", help="leave out the sweep and the budget arm")
    p.add_argument("--warmup-prompts", type=int, default=8)
    p.add_argument("--temperature", type=float, default=0.6)
    p.add_argument("--seed", type=int, default=0, help="seeds each request (pair_seed of this and its id)")
    p.add_argument("--max-tokens", type=int, help="max_tokens per request (default: the server's, up to the context)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    p.add_argument("--code-ref", help="run the servers from this commit (git archive), not the working tree")
    p.add_argument("--out", default="eval/serve/bench_eager", help="output path without extension")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error(f"--rounds must be >= 1, got {args.rounds}")
    try:
        args.sweep_budgets = [int(b) for b in args.sweep_budgets.split(",")]
    except ValueError:
        p.error(f"--sweep-budgets must be integers, comma-separated, got {args.sweep_budgets!r}")
    return args


def versions() -> dict[str, str]:
    import torch
    import transformers
    import vllm

    return {"vllm": vllm.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version()}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from bench_report import summarize, write_outputs  # matplotlib only once the run is set up

    from cotexit.benchmarks.provenance import git_commit, provenance

    began, out = time.monotonic(), Path(args.out)
    test = load_items(suite="arith", split="test", limit=max(n for _, n in args.prompts))
    calib = load_items(suite="arith", split="calib", limit=args.sweep_prompts + args.warmup_prompts)
    sweep_items, warm_items = calib[:args.sweep_prompts], calib[args.sweep_prompts:]
    with contextlib.ExitStack() as stack:
        code, code_commit = ROOT, git_commit()
        if args.code_ref:
            code = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cotexit-code-")))
            code_commit = export_code(args.code_ref, code)
        specs, servers = server_specs(args.compiled), {}
        for name, spec in specs.items():
            servers[name] = stack.enter_context(Server(spec, LOGS / f"{out.name}.{name}.log", code=code))
            print(f"server {name} up in {servers[name].start_s:.0f} s at {servers[name].url}", flush=True)
        memory_start = {name: s.memory() for name, s in servers.items()}
        bench = Bench(servers, args)
        warm_up(bench, warm_items)
        budget = None if args.no_budget else args.budget or sweep(bench, sweep_items, args.sweep_budgets)
        main_rounds(bench, test, budget)
        memory_end = {name: s.memory() for name, s in servers.items()}
        alive = {name: s.alive() for name, s in servers.items()}
        server_records = {name: s.to_json() for name, s in servers.items()}
    result = {
        "command": "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
        "mode": "compiled" if args.compiled else "eager",
        "servers": server_records,
        "arms": [asdict(a) for a in arms(budget)],
        "budget": budget, "budget_chosen_by": "--budget" if args.budget else ("sweep" if budget else None),
        "server_code_commit": code_commit,
        "device": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), CPU build",
        "versions": versions(),
        "environment": {k: os.environ.get(k) for k in ("VLLM_CPU_KVCACHE_SPACE", "VLLM_CPU_NUM_OF_RESERVED_CPU",
                                                       "VLLM_USE_V2_MODEL_RUNNER", "VLLM_CPU_OMP_THREADS_BIND")},
        "server_memory_mb": {"after_start": memory_start, "after_run": memory_end},
        "servers_alive_at_end": alive,
        "wall_s": round(time.monotonic() - began, 1),
        "passes": bench.passes,
        **summarize(bench.rows, bench.passes),
        "provenance": provenance(vars(args) | {"prompts": args.prompts}, {"suite": "arith", "splits": ["test", "calib"]}),
    }
    write_outputs(result, bench.rows, out)
    print(f"wrote {out}.json, {out}.md, {out}.png in {result['wall_s']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
