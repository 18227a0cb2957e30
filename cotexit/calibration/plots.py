"""Risk against threshold, with the target and the chosen point, as a PNG.

Owns `risk_plot`. Draws with matplotlib's object API on an Agg canvas, so it
never touches the global backend or opens a window; matplotlib is imported
only when a plot is asked for.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from cotexit.calibration.digits import format_threshold
from cotexit.calibration.result import Calibration

_RISK_NAMES = {
    "cue": "false-exit rate among wrong cues",
    "stop-precision": "P(wrong | stop)",
    "accuracy-drop": "harm rate (right at the end, wrong at exit)",
    "answer-change": "answer-change rate (the exit's answer differs from the end's)",
}


def risk_plot(calibration: Calibration, path: str | os.PathLike[str], settings: int | None = None) -> Path:
    """Write the calibration curve to `path` (PNG) and return the path.

    Two panels over the same thresholds, so that no two scales share one axis: the empirical risk against
    its target on top, the p-value (or conformal bound) against delta below; the certified thresholds are
    shaded in both and the chosen one marked. Legends sit outside the axes, beside their panel. `settings`: how
    many decoding settings one threshold was certified over (`settings.calibrate_over_settings`), whose curves are
    the worst setting's risk and the largest p-value.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"risk_plot writes PNG files; {path} does not end in .png")
    fig = Figure(figsize=(8.4, 5.6))
    FigureCanvasAgg(fig)
    rax, pax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    x, risk = list(calibration.candidates), list(calibration.risks)
    threshold = calibration.threshold
    shown = None if threshold is None else format_threshold(threshold, _neighbours(x, threshold), gap=True)
    worst = f"the worst of {settings} settings' " if settings else ""
    name = textwrap.fill(f"{worst}empirical {_RISK_NAMES[calibration.mode]}", 30)
    rax.step(x, risk, where="post", color="tab:blue", label=name)
    rax.axhline(calibration.target, color="tab:red", linestyle="--", label=f"target {calibration.target:g}")
    bound = "p-value" if calibration.mode != "cue" else "conformal bound"
    pax.step(x, list(calibration.p_values), where="post", color="tab:gray",
             label=textwrap.fill("p-value (the largest of the settings')", 30) if settings else bound)
    if calibration.delta is not None:
        pax.axhline(calibration.delta, color="black", linestyle=":", label=f"delta {calibration.delta:g}")
    if threshold is not None:
        for ax in (rax, pax):
            shade = "certified thresholds" if ax is rax else None
            ax.axvspan(threshold, max(x), color="tab:green", alpha=0.08, lw=0, label=shade)
            ax.axvline(threshold, color="tab:green", alpha=0.8, lw=1)
        chosen = min(range(len(x)), key=lambda i: abs(x[i] - threshold))
        rax.plot([x[chosen]], [risk[chosen]], "o", color="tab:green", label=f"chosen {shown}")
    top = max(risk) if risk else 0.0
    zoom = max(4 * calibration.target, 1.5 * (risk[chosen] if threshold is not None else 0.0))
    rax.set_ylim(0.0, zoom if top > zoom else max(1.05 * top, 1.5 * calibration.target))  # the curve leaves the top
    rax.set_ylabel("risk on calibration data")
    pax.set_ylim(0.0, 1.02)
    pax.set_ylabel(bound)
    pax.set_xlabel("threshold lambda (exit at the first cue with score >= lambda)")
    pax.set_xlim(min(x) - 0.01, max(x) + 0.01)
    title = f"{calibration.mode}: n={calibration.n_problems} problems" + (f" in {settings} settings" if settings else "")
    rax.set_title(title + (f", threshold {shown}" if shown is not None else ", no threshold (never exit)"))
    for ax in (rax, pax):
        ax.grid(alpha=0.25)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.subplots_adjust(left=0.08, right=0.7, top=0.93, bottom=0.09, hspace=0.08)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def _neighbours(candidates: list[float], threshold: float) -> list[float]:
    i = candidates.index(threshold) if threshold in candidates else 0
    return candidates[max(i - 1, 0) : i + 2]


def joint_plot(arms, reference_correct, reference_cost, calibration, path: str | os.PathLike[str]) -> Path:
    """Harm rate against estimated compute saved, one curve per depth setting, certified parts drawn solid.

    `arms` are `cotexit.calibration.joint.DepthArm`s and `calibration` their `JointCalibration`.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    fig = Figure(figsize=(8.6, 4.4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    base = float(np.sum(reference_cost))
    n = len(reference_correct)
    for color, arm, result in zip(["tab:blue", "tab:orange", "tab:purple", "tab:brown", "tab:olive"] * 4, arms, calibration.arms):
        _, harms, cost = arm.curves(np.asarray(reference_correct, dtype=bool))
        saved, risk = 100 * (1 - cost / base), harms / n
        k = result.n_certified
        ax.plot(saved, risk, color=color, alpha=0.35, linewidth=1)
        if k:
            ax.plot(saved[:k], risk[:k], color=color, linewidth=2, label=f"{arm.name} (certified part)")
        else:
            ax.plot([], [], color=color, alpha=0.35, label=f"{arm.name} (nothing certified)")
    ax.axhline(calibration.epsilon, color="tab:red", linestyle="--", label=f"epsilon {calibration.epsilon:g}")
    if calibration.arm is not None:
        lam = "never" if calibration.threshold is None else format_threshold(calibration.threshold, gap=True)
        ax.plot([100 * calibration.compute_saved], [calibration.harm_rate], "o", color="tab:green",
                label=f"chosen: {calibration.arm},\nlambda {lam}")
    ax.set_xlabel("estimated compute saved against neither exit (% of FLOPs)")
    ax.set_ylabel("harm rate on calibration problems")
    ax.set_ylim(0, max(3 * calibration.epsilon, 0.05))
    ax.grid(alpha=0.25)
    ax.set_title(f"joint calibration: n={n}, delta {calibration.delta:g}\n(Bonferroni over {len(arms)} depth settings)",
                 fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.subplots_adjust(left=0.09, right=0.64, top=0.88, bottom=0.11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
