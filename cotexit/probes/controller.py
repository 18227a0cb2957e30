"""The length-exit controller: an exit policy that scores each cue with a probe.

Owns `ProbeExitPolicy`. At a cue whose hidden states the decode loop has
captured (no extra forward pass, no trial decoding), it builds the features,
scores them and fires when the score reaches the artifact's threshold. It
keeps every score it computed per row, for results and reports. An artifact
whose threshold is `None` never fires.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from cotexit.controller.capture import CaptureConfig
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.features import cue_features

if TYPE_CHECKING:
    from cotexit.controller.cues import CueEvent
    from cotexit.controller.rows import RowState


class ProbeExitPolicy:
    """Exit at the first cue whose probe score is >= threshold.

    `threshold` defaults to the artifact's calibrated one; passing another is
    for sweeps and loses the calibration guarantee.
    """

    needs_hidden = True
    per_step = False  # judges cues only

    def __init__(self, artifact: ProbeArtifact, threshold: float | None = None, *, use_calibrated: bool = True) -> None:
        self.artifact = artifact
        self.threshold = artifact.threshold if use_calibrated and threshold is None else threshold
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1] or None (never exit), got {self.threshold}")
        self.name = f"probe-{artifact.calibration.get('mode', 'custom')}"
        self.semantics = artifact.exit_semantics  # engines refuse a probe whose labels meant other exits
        self.scores: dict[str, list[float]] = {}

    def capture(self) -> CaptureConfig:
        """The capture the decode loop must run for this policy."""
        return CaptureConfig(layers=self.artifact.features.layers, where="cues")

    def __call__(self, row: RowState, cue: CueEvent | None) -> bool:
        if cue is None or cue.hidden is None:
            return False
        x = cue_features(cue.hidden, self.artifact.features).unsqueeze(0)  # (1, D)
        with torch.no_grad():
            score = float(self.artifact.probe.score(x)[0])
        self.scores.setdefault(row.key, []).append(score)
        return self.threshold is not None and score >= self.threshold
