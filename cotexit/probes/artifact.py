"""Probe artifacts: a folder with `probe.safetensors` and `card.json`, never a pickle.

Owns `ProbeArtifact` (save, load, the model-fingerprint check) and the card's
schema migrations (`_migrate`, the one place old cards are upgraded). The
card records everything needed to use the probe honestly: the model it was
fitted on, the layers, cues and forced-exit text, the exit semantics its
labels assumed (`cotexit.controller.semantics`), the corpus, the calibration
mode with its threshold and levels, the depth setting it was certified with
(`layer_exit`, None: every layer), and validation metrics. A threshold of
`None` means calibration found no valid threshold: the controller never exits.
Version 3 cards keep the calibration evidence in `evidence.safetensors` and
seal both files and every card field (`cotexit.certificates`); loading one
whose threshold, levels or weights were changed afterwards is refused.
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

import numpy as np
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from cotexit.certificates.digest import CERTIFICATE, refuse_if_changed, seal
from cotexit.certificates.evidence import EVIDENCE, load_evidence, save_evidence

from cotexit.controller.semantics import EXIT_SEMANTICS
from cotexit.files import follow_umask_tree
from cotexit.probes.features import FeatureSpec
from cotexit.probes.probe import Probe, ProbeConfig

CARD_VERSION = 3  # 2: exit_semantics; 3: layer_exit, evidence and certificate
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
    layer_exit: dict[str, Any] | None = None  # the depth setting the threshold was certified with (None: every layer)
    evidence: dict[str, np.ndarray] | None = None  # what the threshold was chosen from (`cotexit.certificates`)
    certificate: dict[str, Any] | None = None  # as loaded: procedure and digests (None: made before version 3)

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
            "layer_exit": self.layer_exit,
            "calibration": self.calibration,
            "never_exit": self.threshold is None,
            "corpus": self.corpus,
            "metrics": self.metrics,
        }

    def save(self, folder: str | os.PathLike[str], extras: Callable[[Path], object] | None = None) -> Path:
        """Write atomically: a half-written artifact never appears under `folder`; modes follow the umask.

        `extras(staging_folder)` may add files (a report) before the folder is moved into place.
        """
        target = Path(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
        try:
            save_file(self.probe.arrays, str(staging / WEIGHTS), metadata={"format": "cotexit-probe"})
            files = {WEIGHTS: staging / WEIGHTS}
            if self.evidence is not None:
                files[EVIDENCE] = save_evidence(self.evidence, staging / EVIDENCE)
            card = json.loads(json.dumps(self.card(), default=float))  # seal what is written
            card = seal(card, files) if self.evidence is not None else card
            (staging / CARD).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
            if extras is not None:
                extras(staging)
            follow_umask_tree(staging)  # mkdtemp made it 0700 and safetensors its files 0600
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
        except (json.JSONDecodeError, ValueError) as exc:
            raise ValueError(f"corrupted probe artifact {path}: {exc}") from exc
        refuse_if_changed(
            card, {WEIGHTS: path / WEIGHTS, EVIDENCE: path / EVIDENCE}, f"probe artifact {path}",
            f"`cotexit verify {path}` for details; re-run `cotexit calibrate` to make a new one",
        )
        evidence = load_evidence(path / EVIDENCE) if card.get(CERTIFICATE) is not None else None
        try:
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
            layer_exit=card.get("layer_exit"),
            evidence=evidence,
            certificate=card.get(CERTIFICATE),
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
    2 -> 3: no depth exit was certified with them (`layer_exit` None) and they kept no evidence: they load,
    but carry no certificate (`cotexit verify` fails on them; re-running `cotexit calibrate` makes one).
    """
    version = card.get("card_version")
    if version == 1:
        card = {**card, "card_version": 2, "exit_semantics": EXIT_SEMANTICS.to_json()}
        version = 2
    if version == 2:
        card = {**card, "card_version": 3, "layer_exit": None}
        version = 3
    if version != CARD_VERSION:
        raise ValueError(f"card_version {version!r} is not supported (this cotexit reads {CARD_VERSION})")
    return card
