"""The accuracy-cost Pareto sweep: the probe at several levels against DEER, consistency and budgets.

Owns `simulate` and `sweep_points`. Every policy compared here only decides
*where* thinking stops; the run up to that point is the full run's (each
problem samples from its own seeded stream) and the answer after the stop is
decoded greedily from that prefix. So one full run per problem with a forced
answer at every cue (and at each budget), as `cotexit collect` records,
gives exactly what each policy would have produced, without re-running the
model per setting. Costs count thinking tokens kept, the forced answer, and
for DEER and consistency every trial they decode on the way.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cotexit.benchmarks.grading import is_equivalent
from cotexit.probes.cuedata import CueData


@dataclass(frozen=True)
class SweepPoint:
    policy: str
    setting: str
    accuracy: float
    mean_thinking_tokens: float
    mean_cost_tokens: float  # thinking kept + answer + trial tokens
    exit_rate: float
    n: int


# A rule sees one problem's cues (dicts from cotexit collect, with "score" added) and returns
# (index of the exit cue or None, number of trials decoded up to the decision).
Rule = Callable[[list[dict[str, Any]]], tuple[int | None, int]]


def probe_rule(threshold: float | None) -> Rule:
    def rule(cues):
        for i, cue in enumerate(cues):
            if threshold is not None and cue["score"] >= threshold:
                return i, 0
        return None, 0

    return rule


def deer_rule(threshold: float) -> Rule:
    def rule(cues):
        for i, cue in enumerate(cues):
            if cue["forced_mean_prob"] >= threshold:
                return i, i + 1
        return None, len(cues)

    return rule


def consistency_rule(k: int) -> Rule:
    def rule(cues):
        for i in range(len(cues)):
            window = [c["forced_answer"] for c in cues[max(0, i - k + 1) : i + 1]]
            if len(window) == k and window[0] is not None and all(a is not None and is_equivalent(window[0], a) for a in window[1:]):
                return i, i + 1
        return None, len(cues)

    return rule


def simulate(data: CueData, rule: Rule, forced_exit_tokens: int) -> tuple[float, float, float, float]:
    """(accuracy, mean thinking tokens, mean cost tokens, exit rate) of a cue rule over the collected problems."""
    groups = data.cues_by_problem()
    right, thinking, cost, exits = 0, 0.0, 0.0, 0
    for problem, indices in zip(data.problems, groups):
        cues = [data.cues[j] for j in indices]
        stop, trials = rule(cues)
        trial_cost = sum(forced_exit_tokens + c["forced_tokens"] for c in cues[:trials])
        if stop is None:
            right += problem["full_correct"]
            thinking += problem["thinking_tokens"]
            cost += problem["total_tokens"] + trial_cost
        else:
            cue = cues[stop]
            exits += 1
            right += cue["forced_correct"]
            thinking += cue["thinking_tokens_before"]
            kept = cue.get("cut", cue["token_start"])  # cue data before "cut" was recorded cut before the cue
            extra = 0 if trials > stop else forced_exit_tokens + cue["forced_tokens"]  # DEER already paid this trial
            cost += kept + extra + trial_cost
    n = len(data.problems)
    return right / n, thinking / n, cost / n, exits / n


def budget_point(data: CueData, budget: int, forced_exit_tokens: int) -> tuple[float, float, float, float]:
    right, thinking, cost, exits = 0, 0.0, 0.0, 0
    for problem in data.problems:
        trial = problem.get("budget_trials", {}).get(str(budget))
        if trial is None or problem["thinking_tokens"] <= budget:
            right += problem["full_correct"]
            thinking += problem["thinking_tokens"]
            cost += problem["total_tokens"]
        else:
            exits += 1
            right += trial["correct"]
            thinking += budget
            cost += budget + forced_exit_tokens + trial["tokens"]  # the few tokens before thinking are not counted
    n = len(data.problems)
    return right / n, thinking / n, cost / n, exits / n


def sweep_points(
    data: CueData,
    scores: np.ndarray,
    forced_exit_tokens: int,
    probe_thresholds: dict[str, float | None],
    deer: tuple[float, ...] = (0.8, 0.9, 0.95, 0.99),
    consistency: tuple[int, ...] = (2, 3, 4),
    budgets: tuple[int, ...] = (),
) -> list[SweepPoint]:
    for cue, score in zip(data.cues, scores):
        cue["score"] = float(score)
    n = len(data.problems)
    points = []

    def add(policy: str, setting: str, values: tuple[float, float, float, float]) -> None:
        points.append(SweepPoint(policy, setting, *values, n))

    add("full", "-", simulate(data, probe_rule(None), forced_exit_tokens))
    for label, threshold in probe_thresholds.items():
        add("probe", label, simulate(data, probe_rule(threshold), forced_exit_tokens))
    for p in deer:
        add("deer", f"p>={p}", simulate(data, deer_rule(p), forced_exit_tokens))
    for k in consistency:
        add("consistency", f"k={k}", simulate(data, consistency_rule(k), forced_exit_tokens))
    for b in budgets:
        add("budget", f"{b} tokens", budget_point(data, b, forced_exit_tokens))
    return points


def write_sweep(points: list[SweepPoint], folder: str | Path, title: str) -> tuple[Path, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "sweep.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(points[0])))
        writer.writeheader()
        writer.writerows(asdict(p) for p in points)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"full": ("k", "*"), "probe": ("C0", "o"), "deer": ("C1", "s"), "consistency": ("C2", "^"), "budget": ("C3", "x")}
    for policy, (colour, marker) in styles.items():
        chosen = sorted((p for p in points if p.policy == policy), key=lambda p: p.mean_cost_tokens)
        if chosen:
            ax.plot([p.mean_cost_tokens for p in chosen], [100 * p.accuracy for p in chosen], marker=marker, c=colour, label=policy)
            for p in chosen:
                ax.annotate(p.setting, (p.mean_cost_tokens, 100 * p.accuracy), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set(xlabel="mean tokens per problem (thinking kept + answer + trials)", ylabel="accuracy (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png = folder / "pareto.png"
    fig.savefig(png, dpi=130)
    plt.close(fig)
    return csv_path, png
