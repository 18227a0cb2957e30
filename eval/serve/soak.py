"""A bounded soak of one real `vllm serve` with the cotexit plug-in: mixed traffic and faults at concurrency 32.

Owns `traffic` (the request mix, seeded), `exited` (whether a text ends
thinking at one of the probe's cues: the plug-in's keep-cue exit), `judge`
(outcomes -> counts by kind, what went wrong, exits), `rows_report` (the
controller rows the watching plug-in logged, `plugin/rows_watch.py`) and
`main`. The mix, by share of requests:

- chat completions with the default probe and with `"cotexit_probe":
  "none"`, streamed and not;
- a tenth streamed and cancelled after a few events (the client closes the
  connection), half with the probe;
- malformed `vllm_xargs` (an unknown probe name, a number, a list, not a
  dict): each must be HTTP 400;
- `n=2` with the probe (no seed, so the two samples differ), streamed and
  not: each sample must be well-formed and may exit on its own;
- `best_of=2`: vLLM 0.32 has no `best_of` in its sampling parameters; the
  soak records what the server does with it.

It checks that the server stays up, every answered request got what its
kind expects, no connection dropped (`transport` outcomes: the server
closed a connection without an answer), every completed response is
well-formed (`client.py`'s checks, and a thinking end followed by a closed
`\\boxed{}` answer when it stopped), exits fire on probe requests and never
on `none` ones, no controller row outlives its request (`rows_report`),
and the server's resident memory after the run against after warm-up.

    python eval/serve/soak.py --requests 1200 --out eval/serve/soak.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shlex
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from client import Outcome, closed_loop
from servers import LOGS, ROOT, Server, ServerSpec, export_code

from cotexit.experiments.audit import AuditItem, load_items, pair_seed
from cotexit.experiments.served import completion_texts

PROBE = "probes/toy-arith-keep-cue"
WATCH = "rows_watch:RowsWatch"  # plugin/rows_watch.py
MIX = {  # share of requests by kind
    "probe": 0.22, "probe_stream": 0.18, "none": 0.14, "none_stream": 0.11, "cancel": 0.10, "bad_xargs": 0.10,
    "n2": 0.10, "best_of": 0.05,
}
BAD_XARGS = ({"cotexit_probe": "no-such-probe"}, {"cotexit_probe": 3}, {"cotexit_probe": ["none"]}, "not-a-dict")
EXPECT = {"cancel": "cancelled", "bad_xargs": "http_error"}  # every other kind: "ok"


def traffic(items: list[AuditItem], n: int, seed: int = 0, temperature: float = 0.6) -> list[dict[str, Any]]:
    """`n` requests of the mix, in a seeded random order; each {"body", "cancel_after"?, "tag"}."""
    rng = random.Random(seed)
    kinds = [k for k, share in MIX.items() for _ in range(round(share * n))]
    kinds = (kinds + ["probe"] * n)[:n]
    rng.shuffle(kinds)
    requests = []
    for i, kind in enumerate(kinds):
        item = items[i % len(items)]
        body: dict[str, Any] = {
            "model": "toy", "messages": [{"role": "user", "content": item.prompt}], "temperature": temperature,
            "seed": pair_seed(seed, f"{item.id}#{i}"), "skip_special_tokens": False,
        }
        tag: dict[str, Any] = {"kind": kind, "id": item.id, "probe": kind not in ("none", "none_stream")}
        request: dict[str, Any] = {"body": body, "tag": tag}
        if kind in ("none", "none_stream"):
            body["vllm_xargs"] = {"cotexit_probe": "none"}
        if kind.endswith("_stream"):
            body["stream"] = True
        if kind == "cancel":
            body["stream"] = True
            tag["probe"] = i % 2 == 0
            if not tag["probe"]:
                body["vllm_xargs"] = {"cotexit_probe": "none"}
            request["cancel_after"] = tag["cancel_after"] = rng.randint(2, 40)
        elif kind == "bad_xargs":
            body["vllm_xargs"] = BAD_XARGS[i % len(BAD_XARGS)]
            tag["variant"] = json.dumps(body["vllm_xargs"])
        elif kind == "n2":
            body["n"] = 2
            del body["seed"]  # one seed would give both samples the same tokens
            body["stream"] = i % 2 == 0
        elif kind == "best_of":
            body["best_of"] = 2
        requests.append(request)
    return requests


def cue_phrases(probe_dir: Path) -> tuple[str, ...]:
    """The probe's cue phrases, from its card."""
    return tuple(json.loads((probe_dir / "card.json").read_text())["cues"]["phrases"])


def exited(text: str, answer: str, phrases: tuple[str, ...]) -> bool:
    """Whether a completion's thinking ends at a cue (the keep-cue exit: `... Wait,\\n</think>\\nThe final
    answer is ...`); a model that ends thinking by itself ends on a sentence."""
    thinking = text[: len(text) - len(answer)].removesuffix("</think>").rstrip().rstrip(",").lower()
    return bool(answer) and any(thinking.endswith(p.lower()) for p in phrases)


def answer_problem(text: str, answer: str, finish: str | None) -> str | None:
    """Why a finished choice's text is not thinking, one thinking end and a closed boxed answer; None if it is."""
    if finish != "stop":
        return None  # cut by the length limit: nothing to close
    if text.count("</think>") != 1:
        return f"{text.count('</think>')} thinking ends"
    if not re.search(r"\\boxed\{[^{}]*\}", answer):
        return f"no closed boxed answer: {answer[-80:]!r}"
    return None


def judge(outcomes: list[Outcome], phrases: tuple[str, ...]) -> dict[str, Any]:
    """Counts by request kind and outcome, the outcomes that were not what their kind expects, exits per kind
    (per sample for n=2), and what best_of returned."""
    by_kind: dict[str, Counter] = {}
    unexpected, malformed_answers = [], []
    exits: dict[str, Counter] = {}
    best_of: Counter = Counter()
    start = min((o.sent_at for o in outcomes), default=0.0)
    for o in outcomes:
        kind = o.tag["kind"]
        by_kind.setdefault(kind, Counter())[o.kind if o.status in (200, None) else f"{o.kind} {o.status}"] += 1
        expected = EXPECT.get(kind, "ok")
        if o.kind != expected or (expected == "http_error" and o.status != 400):
            unexpected.append({"kind": kind, "got": o.kind, "status": o.status, "problem": o.problem,
                               "sent_s": round(o.sent_at - start, 2), "latency_s": round(o.latency_s, 2),
                               "response": json.dumps(o.response)[:300] if o.response else None,
                               "tag": o.tag})
            continue
        if o.kind != "ok":
            continue
        choices = o.choices()
        counter = exits.setdefault("n2" if kind == "n2" else "probe" if o.tag["probe"] else "none", Counter())
        for choice in choices:
            text, answer = completion_texts({"choices": [choice]})
            problem = answer_problem(text, answer, choice.get("finish_reason"))
            if problem:
                malformed_answers.append({"kind": kind, "problem": problem, "tag": o.tag})
            counter["samples"] += 1
            counter["exited"] += exited(text, answer, phrases)
            counter["length_capped"] += choice.get("finish_reason") == "length"
        if kind == "best_of":
            best_of[f"{len(choices)} choice(s)"] += 1
    dropped = Counter(round(o.sent_at - start + o.latency_s) for o in outcomes if o.kind == "transport")
    return {
        "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
        "transport_failures_by_second": {str(t): n for t, n in sorted(dropped.items())},  # when the connection dropped
        "unexpected": len(unexpected), "unexpected_examples": unexpected[:10],
        "dropped_connections": sum(u["got"] == "transport" for u in unexpected),
        "malformed_answers": len(malformed_answers), "malformed_answer_examples": malformed_answers[:10],
        "exits": {k: dict(v) for k, v in sorted(exits.items())},
        "best_of_returned": dict(best_of),
        "bad_xargs_messages": sorted({(o.response or {}).get("error", {}).get("message", "")[:160]
                                      for o in outcomes if o.tag["kind"] == "bad_xargs"}),
    }


ROWS_LINE = re.compile(r"cotexit-rows: rows=(-?\d+) alive=(-?\d+) added=(\d+) removed=(\d+)")


def rows_report(log_text: str) -> dict[str, Any]:
    """From the watching plug-in's log lines: how many updates, the most rows kept, updates where rows exceeded
    the requests the runner holds, and the rows at the last update (after the closing request arrived)."""
    lines = [tuple(int(x) for x in m.groups()) for m in ROWS_LINE.finditer(log_text)]
    if not lines:
        return {"updates": 0, "note": "no cotexit-rows lines: the server did not run the watching plug-in"}
    return {
        "updates": len(lines),
        "max_rows": max(r for r, *_ in lines),
        "max_alive": max(a for _, a, *_ in lines),
        "rows_over_alive": sum(r > a >= 0 for r, a, *_ in lines),
        "last": dict(zip(("rows", "alive", "added", "removed"), lines[-1])),
    }


class MemorySampler:
    """The server tree's RSS every `every_s` seconds in a thread, while `with` lasts (no PSS: `tree_memory`)."""

    def __init__(self, server: Server, every_s: float = 5.0) -> None:
        self.server, self.every_s, self.samples = server, every_s, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._began = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.samples.append({"t_s": round(time.monotonic() - self._began, 1), **self.server.memory(pss=False)})

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def closing_request(server: Server, item: AuditItem) -> Outcome:
    """One probe request alone, after the traffic: its first step's batch update drops every request that
    finished before it, so the rows left then are its own."""
    body = {"model": "toy", "messages": [{"role": "user", "content": item.prompt}], "temperature": 0.0,
            "skip_special_tokens": False}
    outcomes, _ = asyncio.run(closed_loop(server.url, [{"body": body, "tag": {"kind": "closing"}}], 1))
    return outcomes[0]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=1200, help="requests in the soak (default 1200)")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--warmup", type=int, default=64,
                   help="requests of the same mix (other prompts) before the memory baseline (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--memory-bound", type=float, default=0.10,
                   help="the stated bound: RSS after the run at most this fraction above after warm-up (default 0.10)")
    p.add_argument("--compiled", action="store_true", help="the server runs vLLM's default compilation (else eager)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    p.add_argument("--code-ref", help="run the server from this commit (git archive), not the working tree")
    p.add_argument("--out", default="eval/serve/soak.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from cotexit.benchmarks.provenance import git_commit, provenance

    began, out = time.monotonic(), Path(args.out)
    items = load_items(suite="arith", split="test")
    spec = ServerSpec("soak", probes=(PROBE,), compiled=args.compiled, plugin_class=WATCH,
                      extra_path=("eval/serve/plugin",))
    with tempfile.TemporaryDirectory(prefix="cotexit-code-") as tmp:
        code, code_commit = ROOT, git_commit()
        if args.code_ref:
            code, code_commit = Path(tmp), export_code(args.code_ref, Path(tmp))
        log = LOGS / f"{out.stem}.server.log"
        with Server(spec, log, code=code) as server:
            print(f"server up in {server.start_s:.0f} s", flush=True)
            warm = traffic(items[-args.warmup:], args.warmup, seed=args.seed + 1)  # the same mix, other prompts
            asyncio.run(closed_loop(server.url, warm, args.concurrency, timeout_s=args.timeout))
            memory_warm = server.memory()
            plan = traffic(items, args.requests, seed=args.seed)
            with MemorySampler(server) as sampler:
                outcomes, wall = asyncio.run(closed_loop(server.url, plan, args.concurrency, timeout_s=args.timeout))
            time.sleep(5)  # let aborted and finished requests leave the engine
            memory_after = server.memory()
            closing = closing_request(server, items[0])
            alive, healthy = server.alive(), server.healthy()
            server_record = server.to_json()
            log_text = server.log_tail(10**8)
    verdict = judge(outcomes, cue_phrases(ROOT / PROBE))
    rows = rows_report(log_text)
    growth = memory_after["rss_mb"] / memory_warm["rss_mb"] - 1
    result = {
        "command": "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
        "server": server_record, "server_code_commit": code_commit,
        "requests": len(outcomes), "concurrency": args.concurrency, "wall_s": round(wall, 1),
        "requests_per_s": round(len(outcomes) / wall, 2),
        "mix": MIX,
        **verdict,
        "server_alive": alive, "server_healthy_after": healthy,
        "closing_request": {"kind": closing.kind, "status": closing.status},
        "controller_rows": rows,
        "memory_mb": {"after_warmup": memory_warm, "after_run": memory_after, "rss_growth": round(growth, 4),
                      "bound": args.memory_bound, "within_bound": growth <= args.memory_bound,
                      "during_run": sampler.samples},
        "server_log_errors": sum("ERROR" in line for line in log_text.splitlines()),
        "device": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), CPU build",
        "versions": {"vllm": __import__("vllm").__version__, "python": platform.python_version()},
        "total_wall_s": round(time.monotonic() - began, 1),
        "provenance": provenance(vars(args), {"suite": "arith", "split": "test"}),
    }
    checks = passed(result)
    result["checks"] = checks
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("requests", "wall_s", "by_kind", "unexpected", "dropped_connections",
                                             "transport_failures_by_second", "malformed_answers",
                                             "exits", "best_of_returned", "controller_rows", "checks")}, indent=1))
    print(f"memory MB after warm-up {memory_warm}, after the run {memory_after} ({100 * growth:+.1f}%)")
    return 0 if all(checks.values()) else 1


def passed(result: dict[str, Any]) -> dict[str, bool]:
    """The soak's checks, each true or false."""
    exits, rows = result["exits"], result["controller_rows"]
    return {
        "server_stayed_up": result["server_alive"] and result["server_healthy_after"],
        "every_answered_request_as_expected": result["unexpected"] == result["dropped_connections"],
        "no_dropped_connections": result["dropped_connections"] == 0,
        "every_answer_well_formed": result["malformed_answers"] == 0,
        "probe_requests_exit": exits.get("probe", {}).get("exited", 0) > 0,
        "none_requests_never_exit": exits.get("none", {}).get("exited", 0) == 0,
        "no_row_outlives_its_request": rows.get("updates", 0) > 0 and rows["rows_over_alive"] == 0
        and rows["last"]["rows"] <= 1,
        "memory_within_bound": result["memory_mb"]["within_bound"],
    }


if __name__ == "__main__":
    sys.exit(main())
