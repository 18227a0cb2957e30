"""What an audit of served traffic found: `DIR/summary.json`, its one-line verdict, and `DIR/audit.png`.

Owns `verdict` (the line the CLI prints), `audit_summary` and `audit_plot`,
all read from an `AuditLog` (`cotexit.experiments.audit`): the rows as
written and the live check replayed over them. The plot draws each row's
monitor state as written after that audit, so it shows what the test said
at every point of the run. matplotlib is imported when plotting, on an Agg
canvas (never the global backend).
"""

from __future__ import annotations

import platform
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

from cotexit.benchmarks.provenance import git_commit
from cotexit.experiments.audit import SCHEMA_VERSION, AuditLog

__all__ = ["audit_plot", "audit_summary", "verdict"]

_WHAT = {"answer-change": "answer-change", "harm": "harm"}
_EVENT = {"answer-change": "answer changed", "harm": "harm (right without the probe, wrong with it)"}


def verdict(log: AuditLog) -> str:
    """One line: whether the bound holds on the audited prompts so far, with the numbers."""
    m, live = log.monitor, log.live
    what = _WHAT.get(live.loss or log.config.loss, "loss")
    counted = f"{_EVENT.get(what, what)} on {m.losses} of {m.n} audited prompts"
    level = f"1/delta = {m.threshold:g}"
    if m.rejected:
        head = f"the bound does not hold: the {what} rate exceeds {m.epsilon:g}"
        stats = f"{counted}, {m.rate:.1%}, anytime {1 - m.delta:.0%} lower bound {m.lower:.1%}"
        evidence = f"the e-value reached {level} at prompt {live.rejected_id}"
        if m.n == m.rejected_at:
            return f"{head} ({stats}; {evidence}) after {m.n} audited prompts"
        return f"{head} ({evidence} after {m.rejected_at} audited prompts; since then {stats})"
    if m.n == 0:
        return "nothing audited yet"
    return (f"the bound holds so far: {counted} ({m.rate:.1%}, anytime {1 - m.delta:.0%} upper bound {m.upper:.1%}); "
            f"e-value {m.e_value:.3g} < {level} at epsilon {m.epsilon:g}")


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def audit_summary(log: AuditLog, *, url: str, stopped: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """`summary.json`: the settings, the live check, what the probe changed and saved, and why the audit stopped
    (`stopped`: "end of prompts", "rejected", "interrupted", or the server's error)."""
    rows = log.rows
    n = len(rows)
    graded = [r for r in rows if r.get("correct") is not None and r["full"].get("correct") is not None]
    tokens = [(r["completion_tokens"], r["full"]["completion_tokens"]) for r in rows
              if r.get("completion_tokens") is not None and r["full"].get("completion_tokens") is not None]
    treated, plain = _mean([t for t, _ in tokens]), _mean([p for _, p in tokens])
    finish = Counter(f"{r.get('finish_reason')}/{r['full'].get('finish_reason')}" for r in rows)
    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "settings": log.config.to_json(),
        "url": url,
        "status": "rejected" if log.monitor.rejected else ("holds" if n else "empty"),
        "verdict": verdict(log),
        "stopped": stopped,
        "audited": n,
        "live_check": log.live.to_json(),
        "answer_changed": {"n": sum(bool(r["answer_changed"]) for r in rows), "rate": _rate(rows, "answer_changed")},
        "same_text": {"n": sum(bool(r["same_text"]) for r in rows), "rate": _rate(rows, "same_text")},
        "parted_before_exit": {"n": sum(bool(r.get("parted_before_exit")) for r in rows),
                               "rate": _rate(rows, "parted_before_exit")},
        "completion_tokens": {"with_probe": treated, "without": plain,
                              "saved_pct": 100.0 * (1 - treated / plain) if plain else None},
        "finish_reasons": dict(sorted(finish.items())),  # "with probe/without"
        "provenance": {"git_commit": git_commit(), "cotexit": _version("cotexit"), "python": platform.python_version(),
                       "data": data or {}},
        "plot": "audit.png",
    }
    if graded:
        summary["graded"] = {
            "n": len(graded),
            "accuracy_with_probe": sum(bool(r["correct"]) for r in graded) / len(graded),
            "accuracy_without": sum(bool(r["full"]["correct"]) for r in graded) / len(graded),
            "harm": sum(bool(r["full"]["correct"] and not r["correct"]) for r in graded),
        }
    if n >= 20 and summary["same_text"]["n"] == n:
        summary["note"] = (f"the probe changed none of {n} responses: is the server running the cotexit plug-in "
                           f"with probe {log.config.probe!r}?")
    return summary


def _rate(rows: list[dict[str, Any]], key: str) -> float | None:
    return sum(bool(r.get(key)) for r in rows) / len(rows) if rows else None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def audit_plot(log: AuditLog, path: str | Path) -> Path | None:
    """The running loss rate with the monitor's anytime bounds against epsilon, and the e-value against 1/delta,
    over the audited prompts; the rejection marked. None (nothing drawn) before the first audit."""
    rows = log.rows
    if not rows:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    m, path = log.monitor, Path(path)
    # each series starts before the first audit (no evidence: bounds 0 and 1, e-value 1); steps end at each audit
    x = [0] + [r["audit"] for r in rows]
    rate = [r["monitor"]["losses"] / r["audit"] for r in rows]
    rate = rate[:1] + rate
    lower, upper = [0.0] + [r["monitor"]["lower"] for r in rows], [1.0] + [r["monitor"]["upper"] for r in rows]
    e_values = [1.0] + [max(r["monitor"]["e_value"], 1e-12) for r in rows]
    what = _WHAT.get(log.live.loss or log.config.loss, "loss")

    fig = Figure(figsize=(8.0, 6.0), dpi=120)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    top.fill_between(x, lower, upper, step="pre", color="C0", alpha=0.15,
                     label=f"anytime {1 - m.delta:.0%} bounds on the rate")
    top.step(x, upper, where="pre", c="C0", lw=1)
    top.step(x, rate, where="pre", c="k", lw=1.5, label=f"{what} rate so far")
    top.axhline(m.epsilon, c="C3", ls="--", label=f"epsilon = {m.epsilon:g}")
    top.set(ylabel=f"{what} rate", ylim=(0, min(1.0, max(4 * m.epsilon, 1.3 * max(rate), 1.3 * max(lower)))),
            title=f"audit of probe {log.config.probe!r}: {log.config.source_name()}")
    bottom.step(x, e_values, where="pre", c="C0", lw=1.5, label="e-value")
    bottom.axhline(m.threshold, c="C3", ls="--", label=f"1/delta = {m.threshold:g}")
    bottom.set(yscale="log", xlabel="audited prompts", ylabel="e-value")
    if m.rejected:
        for ax in (top, bottom):
            ax.axvline(m.rejected_at, c="C3", lw=1, alpha=0.6)
        bottom.plot([m.rejected_at], [e_values[m.rejected_at]], "o", c="C3",
                    label=f"rejected at audit {m.rejected_at}")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
