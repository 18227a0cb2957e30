"""The served benchmark's figures: per arm and concurrency, the ratios the issue's targets name, a table and a plot.

Owns `summarize` (request rows and pass records -> `summary`, `ratios`,
`sweep`), `markdown` and `plot`, and `write_outputs` (OUT.json,
OUT.requests.jsonl, OUT.md, OUT.png). Pure functions of what
`bench_serve.py` measured; nothing here talks to a server.

Throughput is requests (or output tokens) over the summed wall time of an
arm's passes. A request that failed (no response: the connection dropped)
is counted under `errors` and left out of accuracy, token and latency
figures. `server_cpu_s
per request` is the CPU time the arm's server spent over its passes per
request: on a machine shared with other work it moves less than wall time.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from statistics import mean
from typing import Any

ORDER = ("plain", "plain_again", "probe", "bare", "budget")
STYLE = {  # one colour and marker per arm in both panels (plain and bare overlap in accuracy: different markers)
    "plain": ("tab:blue", "o"), "plain_again": ("tab:cyan", "o"), "probe": ("tab:green", "D"),
    "bare": ("tab:red", "x"), "budget": ("tab:purple", "s"),
}


def quantile(values: list[float], q: float) -> float | None:
    """Nearest-rank quantile (no interpolation); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _figures(rows: list[dict], passes: list[dict], server: str | None) -> dict[str, Any]:
    ok = [r for r in rows if r["kind"] == "ok"]
    wall = sum(p["wall_s"] for p in passes)
    tokens = sum(r["completion_tokens"] or 0 for r in ok)
    thinking = [r["thinking_tokens"] for r in ok if r.get("thinking_tokens") is not None]
    cpu = sum(p["server_cpu_s"].get(server, 0.0) for p in passes) if server else None
    other_cpu = sum(v for p in passes for k, v in p["server_cpu_s"].items() if k != server) if server else None
    n = len(rows)
    return {
        "requests": n,
        "errors": n - len(ok),
        "wall_s": round(wall, 2),
        "requests_per_s": round(n / wall, 3) if wall else None,
        "output_tokens_per_s": round(tokens / wall, 1) if wall else None,
        "latency_p50_s": _round(quantile([r["latency_s"] for r in ok], 0.5)),
        "latency_p99_s": _round(quantile([r["latency_s"] for r in ok], 0.99)),
        "accuracy": round(sum(bool(r.get("correct")) for r in ok) / len(ok), 4) if ok else None,
        "completion_tokens_per_request": round(tokens / len(ok), 1) if ok else None,
        "thinking_tokens_per_request": round(mean(thinking), 1) if thinking else None,
        "length_capped": sum(r.get("finish_reason") == "length" for r in ok),
        "server_cpu_s_per_request": round(cpu / n, 4) if cpu is not None and n else None,
        "other_server_cpu_s": round(other_cpu, 2) if other_cpu is not None else None,
    }


def _round(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def _server_of(rows: list[dict]) -> str:
    return "bare" if rows and rows[0]["arm"] in ("bare", "budget") else "plugin"


def summarize(rows: list[dict], passes: list[dict]) -> dict[str, Any]:
    """{"summary": {concurrency: {arm: figures}}, "ratios": {concurrency: {...}}, "sweep": {label: figures}}."""
    main_rows, main_passes = defaultdict(list), defaultdict(list)
    for r in rows:
        if r["phase"] == "main":
            main_rows[(r["concurrency"], r["arm"])].append(r)
    for p in passes:
        if p["phase"] == "main":
            main_passes[(p["concurrency"], p["arm"])].append(p)
    summary: dict[str, dict[str, Any]] = {}
    for (c, arm), group in sorted(main_rows.items(), key=lambda kv: (kv[0][0], _rank(kv[0][1]))):
        summary.setdefault(str(c), {})[arm] = _figures(group, main_passes[(c, arm)], _server_of(group))
    sweep: dict[str, Any] = {}
    sweep_rows, sweep_passes = defaultdict(list), defaultdict(list)
    for r in rows:
        if r["phase"] == "sweep":
            sweep_rows[_label(r)].append(r)
    for p in passes:
        if p["phase"] == "sweep":
            sweep_passes[_label(p)].append(p)
    for label, group in sweep_rows.items():
        sweep[label] = _figures(group, sweep_passes[label], _server_of(group))
    return {"summary": summary, "ratios": {c: ratios(arms) for c, arms in summary.items()}, "sweep": sweep}


def _label(r: dict) -> str:
    return f"budget {r['budget']}" if r["arm"] == "budget" else r["arm"]


def _rank(arm: str) -> int:
    return ORDER.index(arm) if arm in ORDER else len(ORDER)


def ratios(arms: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the issue's targets compare, at one concurrency (missing arms leave their ratios out)."""
    def rps(a: str) -> float:
        return arms[a]["requests_per_s"]

    out: dict[str, Any] = {}
    if {"plain", "plain_again"} <= set(arms):
        out["a_a_requests_per_s"] = round(rps("plain_again") / rps("plain"), 4)
    if {"plain", "bare"} <= set(arms):
        out["plugin_none_over_bare_requests_per_s"] = round(rps("plain") / rps("bare"), 4)
    if {"plain", "probe"} <= set(arms):
        plain, probe = arms["plain"], arms["probe"]
        speedup = rps("probe") / rps("plain")
        reduction = plain["completion_tokens_per_request"] / probe["completion_tokens_per_request"]
        out |= {
            "probe_over_plain_requests_per_s": round(speedup, 4),
            "plain_over_probe_completion_tokens": round(reduction, 4),
            "speedup_over_token_reduction": round(speedup / reduction, 4),  # target >= 0.95
            "probe_minus_plain_accuracy_pts": round(100 * (probe["accuracy"] - plain["accuracy"]), 2),  # >= -1
            "probe_over_plain_server_cpu_per_request": _cpu_ratio(probe, plain),
        }
    if {"probe", "bare"} <= set(arms):
        out["probe_over_bare_requests_per_s"] = round(rps("probe") / rps("bare"), 4)
    if {"probe", "budget"} <= set(arms):
        out |= {
            "probe_over_budget_requests_per_s": round(rps("probe") / rps("budget"), 4),  # target > 1
            "probe_minus_budget_accuracy_pts": round(100 * (arms["probe"]["accuracy"] - arms["budget"]["accuracy"]), 2),
            "budget_over_probe_completion_tokens": round(
                arms["budget"]["completion_tokens_per_request"] / arms["probe"]["completion_tokens_per_request"], 4),
        }
    return out


def _cpu_ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    x, y = a["server_cpu_s_per_request"], b["server_cpu_s_per_request"]
    return round(x / y, 4) if x and y else None


def markdown(result: dict[str, Any]) -> str:
    """The results table, the ratios and the sweep, as markdown."""
    lines = [
        f"# Served benchmark ({result['mode']}): toy model, `arith` test prompts, T={result['provenance']['config']['temperature']}",
        "",
        f"`{result['command']}`  ",
        f"vLLM {result['versions']['vllm']}, {result['device']}; server code {result['server_code_commit']}; "
        f"budget {result['budget']} ({result['budget_chosen_by']}); run {result['wall_s']:.0f} s.",
        "",
        "| concurrency | arm | requests | errors | req/s | output tok/s | p50 latency s | p99 latency s | accuracy "
        "| completion tok/req | thinking tok/req | server CPU s/req |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c, arms in result["summary"].items():
        for arm, f in arms.items():
            name = f"budget ({result['budget']})" if arm == "budget" else arm
            lines.append(
                f"| {c} | {name} | {f['requests']} | {f['errors']} | {f['requests_per_s']:.2f} | "
                f"{f['output_tokens_per_s']:.0f} | {f['latency_p50_s']:.2f} | {f['latency_p99_s']:.2f} | "
                f"{f['accuracy']:.3f} | {f['completion_tokens_per_request']:.0f} | {f['thinking_tokens_per_request']:.0f} | "
                f"{f['server_cpu_s_per_request']:.3f} |")
    keys = sorted({k for r in result["ratios"].values() for k in r})
    lines += ["", "| ratio | " + " | ".join(f"c={c}" for c in result["ratios"]) + " |",
              "|---|" + "---|" * len(result["ratios"])]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(_cell(r.get(k)) for r in result["ratios"].values()) + " |")
    if result["sweep"]:
        lines += ["", "Budget sweep (`arith` calib prompts, concurrency 32):", "",
                  "| arm | requests | accuracy | thinking tok/req | completion tok/req | req/s |", "|---|---|---|---|---|---|"]
        for label, f in sorted(result["sweep"].items(), key=lambda kv: _sweep_key(kv[0])):
            lines.append(f"| {label} | {f['requests']} | {f['accuracy']:.3f} | {f['thinking_tokens_per_request']:.0f} | "
                         f"{f['completion_tokens_per_request']:.0f} | {f['requests_per_s']:.2f} |")
    return "\n".join(lines) + "\n"


def _cell(x: Any) -> str:
    return "" if x is None else f"{x:g}"


def _sweep_key(label: str) -> tuple[int, int]:
    return (1, int(label.split()[1])) if label.startswith("budget ") else (0, _rank(label))


def plot(result: dict[str, Any], path: Path) -> None:
    """Left: requests/s by concurrency per arm. Right: accuracy against thinking tokens per request (the sweep's
    budgets as a curve, the probe and the unlimited server as points; else the main run's arms at the top concurrency)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    concurrencies = [int(c) for c in result["summary"]]
    for arm in ORDER:
        xs = [c for c in concurrencies if arm in result["summary"][str(c)]]
        if xs:
            label = f"budget {result['budget']}" if arm == "budget" else arm
            color, marker = STYLE[arm]
            left.plot(xs, [result["summary"][str(c)][arm]["requests_per_s"] for c in xs], "-", marker=marker, color=color, label=label)
    left.set(xscale="log", xlabel="concurrency", ylabel="requests / s", title=f"throughput ({result['mode']})")
    left.set_xticks(concurrencies, [str(c) for c in concurrencies])
    left.legend(fontsize=8)
    points = result["sweep"] or result["summary"][str(max(concurrencies))]
    budgets = sorted((int(k.split()[1]), f) for k, f in points.items() if k.startswith("budget "))
    if budgets:
        right.plot([f["thinking_tokens_per_request"] for _, f in budgets], [f["accuracy"] for _, f in budgets], "s--",
                   color="gray", label="thinking_token_budget")
        for b, f in budgets:
            right.annotate(str(b), (f["thinking_tokens_per_request"], f["accuracy"]), fontsize=7)
    for arm in ("probe", "bare", "plain", "budget"):
        if arm in points:
            f = points[arm]
            color, marker = STYLE[arm]
            right.plot(f["thinking_tokens_per_request"], f["accuracy"], marker, color=color, markersize=9, label=arm,
                       linestyle="none")
    right.set(xlabel="thinking tokens / request", ylabel="accuracy",
              title="accuracy vs thinking (" + ("budget sweep, calib" if result["sweep"] else "main run") + ")")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def resummarize(out: Path) -> None:
    """Recompute OUT.json's figures, OUT.md and OUT.png from OUT.requests.jsonl and the passes in OUT.json."""
    result = json.loads(out.with_suffix(".json").read_text())
    rows = [json.loads(line) for line in out.with_suffix(".requests.jsonl").read_text().splitlines() if line]
    result.update(summarize(rows, result["passes"]))
    write_outputs(result, rows, out)


def write_outputs(result: dict[str, Any], rows: list[dict], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    with out.with_suffix(".requests.jsonl").open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    plot(result, out.with_suffix(".png"))


if __name__ == "__main__":
    import sys

    resummarize(Path(sys.argv[1]))  # python eval/serve/bench_report.py eval/serve/bench_eager
