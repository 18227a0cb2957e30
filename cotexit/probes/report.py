"""The calibration report beside a probe artifact: reliability diagram, score histograms, risk curve.

Owns `write_report` (three PNG files and a `report.json` with the held-out
metrics, written into the artifact folder at calibration) and `replot`
(the three PNG files again, from a finished artifact's own evidence: its
calibration problems' scores and labels, the calibration recomputed from
them; nothing sealed is touched). The risk-against-threshold plot is
`cotexit.calibration.risk_plot`. Plots are drawn with matplotlib's object
API on an Agg canvas, never through the global backend.

    >>> # replot("probes/toy-arith")  # redraws reliability.png, scores.png, risk.png
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from cotexit.calibration import Calibration, risk_plot
from cotexit.calibration.digits import format_threshold
from cotexit.calibration.result import level_name
from cotexit.certificates.verify import evidence_calibration
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.fit import FitResult

PLOTS = ("reliability.png", "scores.png", "risk.png")


def write_report(fit: FitResult, folder: str | Path) -> list[Path]:
    """The plots and `report.json` (the artifact's held-out metrics) in `folder`; returns the paths written."""
    folder = Path(folder)
    written = write_plots(fit.calibration, fit.scores, fit.labels, folder, _n_settings(fit.artifact.calibration))
    report = folder / "report.json"
    report.write_text(json.dumps(fit.artifact.metrics, indent=2, default=float) + "\n")
    return [*written, report]


def replot(folder: str | os.PathLike[str]) -> list[Path]:
    """Redraw the plots of the probe artifact in `folder` from its evidence; returns the paths written.

    The evidence holds the calibration problems' cue scores and forced-exit labels (the held-out cues the
    plots show) and the calibration is recomputed from them with the card's own mode and levels, so the
    plots are the ones `cotexit calibrate` would draw. Loading refuses an artifact changed after calibration.
    """
    artifact = ProbeArtifact.load(folder)
    if artifact.evidence is None:
        raise ValueError(f"{folder} keeps no evidence (card made before version 3): re-run `cotexit calibrate`")
    cal = artifact.calibration
    if cal.get("mode") == "joint":
        raise ValueError(f"{folder} is a joint artifact; its plot is joint.png (`cotexit.probes.joint.replot_joint`)")
    recompute, tables = evidence_calibration(cal, artifact.evidence)  # one table per setting, or one
    again = recompute(cal[level_name(cal["mode"])])
    scores = np.concatenate([t.scores for t in tables])
    labels = np.concatenate([t.forced_correct for t in tables])
    if again.threshold != cal["threshold"]:
        raise ValueError(
            f"{folder}: its evidence certifies {again.threshold!r}, the card says {cal['threshold']!r}; "
            f"`cotexit verify {folder}` for details"
        )
    return write_plots(again, scores, labels, Path(folder), _n_settings(cal))


def _n_settings(card_calibration: dict) -> int | None:
    """How many decoding settings a card's threshold was certified over (None: one, not listed)."""
    return len(card_calibration.get("settings") or ()) or None


def write_plots(
    calibration: Calibration, scores: np.ndarray, labels: np.ndarray, folder: Path, settings: int | None = None
) -> list[Path]:
    """reliability.png, scores.png and risk.png in `folder` for held-out cue `scores` (C,) and `labels` (C,);
    `settings`: how many decoding settings the threshold was certified over (None: one)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    written = []

    fig = Figure(figsize=(4.5, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    edges = np.linspace(0, 1, 11)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, 9)  # (C,)
    mids = [scores[which == b].mean() for b in range(10) if (which == b).any()]
    rates = [labels[which == b].mean() for b in range(10) if (which == b).any()]
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    ax.plot(mids, rates, marker="o")
    right, wrong = _label_names(calibration.mode)
    ax.set(xlabel="probe score", ylabel=f"fraction of cues: {right}", title="reliability (held-out problems)")
    written.append(_save(fig, folder / PLOTS[0]))

    fig = Figure(figsize=(6.4, 3.9))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.hist(scores[labels], bins=30, range=(0, 1), alpha=0.6, label=right)
    ax.hist(scores[~labels], bins=30, range=(0, 1), alpha=0.6, label=wrong)
    if calibration.threshold is not None:
        shown = format_threshold(calibration.threshold, gap=True)
        ax.axvline(calibration.threshold, c="k", ls="--", label=f"threshold {shown}")
    ax.set(xlabel="probe score", ylabel="cues")
    ax.set_title("probe scores by label (held-out problems)", pad=24)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)  # above the bars
    written.append(_save(fig, folder / PLOTS[1]))

    written.append(risk_plot(calibration, folder / PLOTS[2], settings))
    return written


def _label_names(mode: str) -> tuple[str, str]:
    """What a cue's label says, true and false: right or wrong, or (answer-change) the same answer or another."""
    if mode == "answer-change":
        return "forced answer = full run's", "forced answer differs"
    return "forced answer right", "forced answer wrong"


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
