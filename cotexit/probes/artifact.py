"""Probe artifacts: a folder with `probe.safetensors` and `card.json`, never a pickle.

Owns `ProbeArtifact` (save, load, the model-fingerprint check) and the card's
schema migrations (`_migrate`, the one place old cards are upgraded). The
card records everything needed to use the probe honestly: the model it was
fitted on, the layers, cues and forced-exit text, the exit semantics its
labels assumed (`cotexit.controller.semantics`), the corpus, the calibration
mode with its threshold and levels, and validation metrics. A threshold of
`None` means calibration found no valid threshold: the controller never exits.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from cotexit.controller.semantics import EXIT_SEMANTICS
from cotexit.probes.features import FeatureSpec
from cotexit.probes.probe import Probe, ProbeConfig

CARD_VERSION = 2  # 2: exit_semantics
WEIGHTS = "probe.safetensors"
CARD = "card.json"
_FINGERPRINT_KEYS = ("config_sha256", "num_layers", "hidden_size", "tokenizer_sha256")


@dataclass
class ProbeArtifact:
    probe: Probe
    features: FeatureSpec
    fingerprint: dict[str, Any]
    cues: dict[str, Any]
    thinking_format: dict[str, Any]
    calibration: dict[str, Any]  # mode, threshold (None = never exit), alpha/epsilon, delta, n, guarantee
    corpus: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    exit_semantics: dict[str, Any] = field(default_factory=EXIT_SEMANTICS.to_json)  # what its labels' exits meant

    @property
    def threshold(self) -> float | None:
        return self.calibration.get("threshold")

    def card(self) -> dict[str, Any]:
        return {
            "card_version": CARD_VERSION,
            "model": self.fingerprint,
            "features": self.features.to_json(),
            "probe": self.probe.config.to_json(),
            "cues": self.cues,
            "thinking_format": self.thinking_format,
            "exit_semantics": self.exit_semantics,
            "calibration": self.calibration,
            "never_exit": self.threshold is None,
            "corpus": self.corpus,
            "metrics": self.metrics,
        }

    def save(self, folder: str | os.PathLike[str], extras: Callable[[Path], object] | None = None) -> Path:
        """Write atomically: a half-written artifact never appears under `folder`.

        `extras(staging_folder)` may add files (a report) before the folder is moved into place.
        """
        target = Path(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
        try:
            save_file(self.probe.arrays, str(staging / WEIGHTS), metadata={"format": "cotexit-probe"})
            (staging / CARD).write_text(json.dumps(self.card(), indent=2, sort_keys=True, default=float) + "\n")
            if extras is not None:
                extras(staging)
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> ProbeArtifact:
        path = Path(folder)
        if not (path / CARD).is_file() or not (path / WEIGHTS).is_file():
            raise ValueError(f"{path} is not a probe artifact (needs {CARD} and {WEIGHTS})")
        try:
            card = _migrate(json.loads((path / CARD).read_text()))
            arrays = load_file(str(path / WEIGHTS))
            probe = Probe(ProbeConfig(**card["probe"]), arrays)
            features = FeatureSpec(**card["features"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, OSError, SafetensorError) as exc:
            raise ValueError(f"corrupted probe artifact {path}: {exc}") from exc
        if probe.dim != features.dim:
            raise ValueError(f"corrupted probe artifact {path}: weights take {probe.dim} features, card says {features.dim}")
        return cls(
            probe=probe,
            features=features,
            fingerprint=card["model"],
            cues=card["cues"],
            thinking_format=card["thinking_format"],
            calibration=card["calibration"],
            corpus=card.get("corpus", {}),
            metrics=card.get("metrics", {}),
            exit_semantics=card["exit_semantics"],
        )

    def check_model(self, fingerprint: dict[str, Any]) -> None:
        """Refuse a model whose fingerprint differs from the one the probe was fitted on."""
        diffs = [k for k in _FINGERPRINT_KEYS if self.fingerprint.get(k) != fingerprint.get(k)]
        if diffs:
            detail = ", ".join(f"{k}: probe {self.fingerprint.get(k)!r} vs model {fingerprint.get(k)!r}" for k in diffs)
            raise ValueError(
                f"this probe was fitted on model {self.fingerprint.get('model')!r}, not on "
                f"{fingerprint.get('model')!r} ({detail})"
            )


def _migrate(card: dict[str, Any]) -> dict[str, Any]:
    """Upgrade older cards to CARD_VERSION; refuse newer ones.

    1 -> 2: version 1 cards predate recorded exit semantics; their labels all came from cotexit's decode
    loop, which has always cut thinking before the cue and forced the format's text: `EXIT_SEMANTICS`.
    """
    version = card.get("card_version")
    if version == 1:
        card = {**card, "card_version": 2, "exit_semantics": EXIT_SEMANTICS.to_json()}
        version = 2
    if version != CARD_VERSION:
        raise ValueError(f"card_version {version!r} is not supported (this cotexit reads {CARD_VERSION})")
    return card
