"""The accuracy-cost Pareto sweep: the probe at several levels against DEER, consistency and budgets.

Owns `simulate`, `sweep_points`, and the sweep's files: `write_sweep`
(`sweep.csv` and `pareto.png`), `read_sweep` and `pareto_plot` (to redraw the
plot from the CSV alone). Every policy compared here only decides
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
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cotexit.benchmarks.grading import is_equivalent
from cotexit.experiments.labels import Box, merge_close, place_labels
from cotexit.probes.cuedata import CueData
from cotexit.probes.outcomes import forced_agrees

SWEEP_CSV, PARETO_PNG = "sweep.csv", "pareto.png"


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


def exit_outcomes(data: CueData, rule: Rule) -> tuple[int, int, int]:
    """(harms, exits, wrong exits) of a cue rule: problems right thinking to the end and wrong at its exit (what
    `accuracy-drop` bounds), problems it exits on, and those whose answer at the exit is wrong (`stop-precision`)."""
    harms = exits = wrong = 0
    for problem, indices in zip(data.problems, data.cues_by_problem()):
        cues = [data.cues[j] for j in indices]
        stop, _ = rule(cues)
        if stop is None:
            continue
        exits += 1
        right = bool(cues[stop]["forced_correct"])
        wrong += not right
        harms += bool(problem["full_correct"]) and not right
    return harms, exits, wrong


def exit_changes(data: CueData, rule: Rule) -> int:
    """Problems whose answer forced at the rule's exit is not the full run's final answer (what `answer-change`
    bounds; `cotexit.probes.outcomes.forced_agrees`)."""
    changes = 0
    for problem, indices in zip(data.problems, data.cues_by_problem()):
        cues = [data.cues[j] for j in indices]
        stop, _ = rule(cues)
        changes += stop is not None and not forced_agrees(cues[stop], problem)
    return changes


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
    """Write `sweep.csv` and `pareto.png` into `folder`; return both paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / SWEEP_CSV
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(points[0])))
        writer.writeheader()
        writer.writerows(asdict(p) for p in points)
    return csv_path, pareto_plot(points, folder / PARETO_PNG, title)


def read_sweep(path: str | Path) -> list[SweepPoint]:
    """The points of a `sweep.csv` (to redraw its plot: `pareto_plot(read_sweep(csv), png, title)`)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} is not a sweep file (`cotexit bench --sweep` writes {SWEEP_CSV})")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    try:
        return [
            SweepPoint(
                r["policy"], r["setting"], float(r["accuracy"]), float(r["mean_thinking_tokens"]),
                float(r["mean_cost_tokens"]), float(r["exit_rate"]), int(r["n"]),
            )
            for r in rows
        ]
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path} is not a sweep file: {exc!r}") from exc


_STYLES = {"full": ("k", "*"), "probe": ("C0", "o"), "deer": ("C1", "s"), "consistency": ("C2", "^"), "budget": ("C3", "x")}
_NAMES = {"full": "think to the end", "probe": "probe (at each calibrated level)", "deer": "DEER (trial confidence)",
          "consistency": "answer consistency", "budget": "token budget"}


def pareto_plot(points: list[SweepPoint], path: str | Path, title: str) -> Path:
    """Accuracy against mean cost tokens, one line per policy, every point labelled with its setting.

    Labels of points drawn on top of each other are merged ("p>=0.8/0.9/0.95/0.99"); the others are placed
    where they cover no other label, marker or line (`cotexit.experiments.labels`), with a leader line when
    they had to move away; the legend sits outside the axes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    dpi = 130
    fig = Figure(figsize=(9.2, 5.0), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    series = []
    for policy, (colour, marker) in _STYLES.items():
        chosen = sorted((p for p in points if p.policy == policy), key=lambda p: p.mean_cost_tokens)
        if chosen:
            xs, ys = [p.mean_cost_tokens for p in chosen], [100 * p.accuracy for p in chosen]
            ax.plot(xs, ys, marker=marker, c=colour, label=_NAMES.get(policy, policy), markersize=6)
            series.append((policy, chosen, xs, ys))
    ax.set(xlabel="mean tokens per problem (thinking kept + answer + trials)", ylabel="accuracy (%)", title=title)
    ax.grid(alpha=0.3)
    ax.margins(x=0.08, y=0.1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.08, right=0.74, bottom=0.11, top=0.92)
    ax.set(xlim=ax.get_xlim(), ylim=ax.get_ylim())  # fix the limits, so the pixels labels are placed in stay true
    _label_points(fig, ax, series, dpi)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def _label_points(fig, ax, series, dpi: int) -> None:
    """Annotate every point (merging those on top of each other) without labels covering each other or the data."""
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    obstacles, anchors, texts, colours = [], [], [], []
    for policy, chosen, xs, ys in series:
        pixels = [tuple(to_px((x, y))) for x, y in zip(xs, ys)]
        obstacles += [Box.around(px, py, 5.0) for px, py in pixels]
        for (x0, y0), (x1, y1) in zip(pixels, pixels[1:]):  # the line between markers, sampled every 6 pixels
            steps = max(1, int(math.dist((x0, y0), (x1, y1)) // 6))
            obstacles += [Box.around(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, 1.5) for t in np.linspace(0, 1, steps + 1)]
        for group in merge_close(pixels, radius=7.0):
            settings = [chosen[i].setting for i in group]
            anchors.append(tuple(sum(pixels[i][d] for i in group) / len(group) for d in (0, 1)))
            texts.append(_merged(policy, settings))
            colours.append(_STYLES[policy][0])
    sizes = []
    for text in texts:
        probe = ax.text(0, 0, text, fontsize=7)
        extent = probe.get_window_extent(renderer)
        sizes.append((extent.width, extent.height))
        probe.remove()
    frame = ax.get_window_extent(renderer)
    boxes = place_labels(anchors, sizes, obstacles=obstacles, bounds=Box(frame.x0, frame.y0, frame.x1, frame.y1))
    inverse = ax.transData.inverted().transform
    points_per_px = 72.0 / dpi
    for (px, py), box, text, colour in zip(anchors, boxes, texts, colours):
        far = math.dist((px, py), _nearest(box, px, py)) > 12.0
        ax.annotate(
            text, xy=tuple(inverse((px, py))), xytext=((box.x0 - px) * points_per_px, (box.y0 - py) * points_per_px),
            textcoords="offset points", fontsize=7, color=colour, ha="left", va="bottom",
            arrowprops={"arrowstyle": "-", "color": colour, "lw": 0.6, "alpha": 0.7, "shrinkA": 0, "shrinkB": 3}
            if far else None,
        )


def _nearest(box: Box, x: float, y: float) -> tuple[float, float]:
    return min(max(x, box.x0), box.x1), min(max(y, box.y0), box.y1)


def _merged(policy: str, settings: list[str]) -> str:
    """One label for settings drawn at one spot: "p>=0.8/0.9/0.95/0.99", "eps=0.01/0.015"."""
    if policy == "full":
        return "think to the end"
    if len(settings) == 1:
        return settings[0]
    prefix = settings[0].split("=")[0] + "=" if all("=" in s for s in settings) else ""
    if prefix and all(s.startswith(prefix) for s in settings):
        return prefix + "/".join(s[len(prefix):] for s in settings)
    return " / ".join(settings)
