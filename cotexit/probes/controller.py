"""The length-exit controller: an exit policy that scores each cue with a probe.

Owns `ProbeExitPolicy`, and `ProbeExitPolicy.load`, the one call that turns a
probe artifact into everything an engine needs: the policy, the cue set the
probe was calibrated on (`cues`), the layers it reads (`capture()`) and the
exit semantics its labels assumed (`semantics`), after checking the model
it was fitted on. Every engine and the CLI build probes through it, so a
probe always runs on its own cues and cut. At a cue whose hidden states the
engine has captured (no extra forward pass, no trial decoding) the policy
builds the features, scores them, writes the score on the cue
(`CueEvent.score`, which travels with the row) and fires when it reaches the
artifact's threshold. An artifact whose threshold is `None` never fires.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from cotexit.controller.capture import CaptureConfig
from cotexit.controller.cues import CueConfig
from cotexit.controller.policies import ExitPolicy
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.features import cue_features

if TYPE_CHECKING:
    from cotexit.controller.cues import CueEvent
    from cotexit.controller.rows import RowState


class ProbeExitPolicy(ExitPolicy):
    """Exit at the first cue whose probe score is >= threshold.

    `threshold` defaults to the artifact's calibrated one; passing another is
    for sweeps and loses the calibration guarantee.

    >>> # policy = ProbeExitPolicy.load("probes/toy-arith", fingerprint=lm.fingerprint())
    >>> # policy.cues, policy.capture(), policy.semantics   # what every engine runs it with
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
        self.cues = artifact_cues(artifact)  # engines watch these unless told otherwise

    @classmethod
    def load(
        cls,
        probe: str | os.PathLike[str] | ProbeArtifact,
        *,
        fingerprint: dict[str, Any] | None = None,
        threshold: float | None = None,
    ) -> ProbeExitPolicy:
        """The policy of the artifact at `probe` (a folder or a loaded artifact); with `fingerprint` (a
        `LoadedModel.fingerprint()`), refuses a probe fitted on another model."""
        artifact = probe if isinstance(probe, ProbeArtifact) else ProbeArtifact.load(Path(probe))
        if fingerprint is not None:
            artifact.check_model(fingerprint)
        return cls(artifact, threshold)

    def capture(self) -> CaptureConfig:
        """The capture an engine must run for this policy."""
        return CaptureConfig(layers=self.artifact.features.layers, where="cues")

    def __call__(self, row: RowState, cue: CueEvent | None) -> bool:
        if cue is None or cue.hidden is None:
            return False
        x = cue_features(cue.hidden, self.artifact.features).unsqueeze(0)  # (1, D)
        with torch.no_grad():
            cue.score = float(self.artifact.probe.score(x)[0])
        return self.threshold is not None and cue.score >= self.threshold


def artifact_cues(artifact: ProbeArtifact) -> CueConfig:
    """The cue set a probe artifact's card records (the one its labels were collected at)."""
    return CueConfig(**{**artifact.cues, "phrases": tuple(artifact.cues["phrases"])})
