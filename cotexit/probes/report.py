"""The calibration report beside a probe artifact: reliability diagram, score histograms, risk curve.

Owns `write_report`: three PNG files and a `report.json` with the held-out
metrics, written into the artifact folder. The risk-against-threshold plot is
`cotexit.calibration.risk_plot`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cotexit.calibration import risk_plot
from cotexit.probes.fit import FitResult


def write_report(fit: FitResult, folder: str | Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    scores, labels = fit.scores, fit.labels
    written = []

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    edges = np.linspace(0, 1, 11)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, 9)
    mids = [scores[which == b].mean() for b in range(10) if (which == b).any()]
    rates = [labels[which == b].mean() for b in range(10) if (which == b).any()]
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    ax.plot(mids, rates, marker="o")
    ax.set(xlabel="probe score", ylabel="fraction of forced answers right", title="reliability (held-out problems)")
    written.append(_save(fig, folder / "reliability.png"))

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(scores[labels], bins=30, range=(0, 1), alpha=0.6, label="forced answer right")
    ax.hist(scores[~labels], bins=30, range=(0, 1), alpha=0.6, label="forced answer wrong")
    if fit.calibration.threshold is not None:
        ax.axvline(fit.calibration.threshold, c="k", ls="--", label="threshold")
    ax.set(xlabel="probe score", ylabel="cues", title="probe scores by label (held-out problems)")
    ax.legend()
    written.append(_save(fig, folder / "scores.png"))
    plt.close("all")

    written.append(risk_plot(fit.calibration, folder / "risk.png"))
    report = folder / "report.json"
    report.write_text(json.dumps(fit.artifact.metrics, indent=2, default=float) + "\n")
    written.append(report)
    return written


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
