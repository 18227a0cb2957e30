"""Risk against threshold, with the target and the chosen point, as a PNG.

Owns `risk_plot`. Draws with matplotlib's object API on an Agg canvas, so it
never touches the global backend or opens a window; matplotlib is imported
only when a plot is asked for.
"""

from __future__ import annotations

import os
from pathlib import Path

from cotexit.calibration.result import Calibration

_RISK_NAMES = {
    "cue": "false-exit rate among wrong cues",
    "stop-precision": "P(wrong | stop)",
    "accuracy-drop": "harm rate (right at the end, wrong at exit)",
}


def risk_plot(calibration: Calibration, path: str | os.PathLike[str]) -> Path:
    """Write the calibration curve to `path` (PNG) and return the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"risk_plot writes PNG files; {path} does not end in .png")
    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x, risk = list(calibration.candidates), list(calibration.risks)
    ax.step(x, risk, where="post", color="tab:blue", label=f"empirical {_RISK_NAMES[calibration.mode]}")
    ax.axhline(calibration.target, color="tab:red", linestyle="--", label=f"target {calibration.target:g}")
    pax = ax.twinx()
    pax.step(x, list(calibration.p_values), where="post", color="tab:gray", alpha=0.6, label="p-value / bound")
    if calibration.delta is not None:
        pax.axhline(calibration.delta, color="tab:gray", linestyle=":", label=f"delta {calibration.delta:g}")
    pax.set_ylim(0.0, 1.02)
    pax.set_ylabel("p-value" if calibration.mode != "cue" else "conformal bound")
    if calibration.threshold is not None:
        ax.axvline(calibration.threshold, color="tab:green", alpha=0.7)
        chosen = min(range(len(x)), key=lambda i: abs(x[i] - calibration.threshold))
        ax.plot([x[chosen]], [risk[chosen]], "o", color="tab:green", label=f"chosen {calibration.threshold:.4g}")
    title = f"{calibration.mode}: n={calibration.n_problems} problems"
    ax.set_title(title if calibration.threshold is not None else title + ", no threshold (never exit)")
    ax.set_xlabel("threshold lambda (exit at the first cue with score >= lambda)")
    ax.set_ylabel("risk on calibration data")
    ax.set_xlim(min(x) - 0.01, max(x) + 0.01)
    handles = ax.get_legend_handles_labels()
    extra = pax.get_legend_handles_labels()
    ax.legend(handles[0] + extra[0], handles[1] + extra[1], fontsize=7, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def joint_plot(arms, reference_correct, reference_cost, calibration, path: str | os.PathLike[str]) -> Path:
    """Harm rate against estimated compute saved, one curve per depth setting, certified parts drawn solid.

    `arms` are `cotexit.calibration.joint.DepthArm`s and `calibration` their `JointCalibration`.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    fig = Figure(figsize=(6.4, 4.2))
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
        ax.plot([100 * calibration.compute_saved], [calibration.harm_rate], "o", color="tab:green",
                label=f"chosen: {calibration.arm}, lambda {calibration.threshold if calibration.threshold is None else round(calibration.threshold, 4)}")
    ax.set_xlabel("estimated compute saved against neither exit (% of FLOPs)")
    ax.set_ylabel("harm rate on calibration problems")
    ax.set_ylim(0, max(3 * calibration.epsilon, 0.05))
    ax.set_title(f"joint calibration: n={n}, delta {calibration.delta:g} (Bonferroni over {len(arms)} depth settings)")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
