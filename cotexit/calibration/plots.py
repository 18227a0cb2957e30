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
