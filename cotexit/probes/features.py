"""Probe features: the hidden states of a few layers at a cue, concatenated.

Owns `cue_features` and `FeatureSpec`. The decode loop captures
{layer: tensor (H,)} at each cue's last token; this module turns that into
one float32 vector in a fixed layer order, the same at calibration and at
inference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class FeatureSpec:
    """Which layers (absolute numbers, 1..N) are concatenated, in this order, and the hidden size."""

    layers: tuple[int, ...]
    hidden_size: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(x) for x in self.layers))
        if not self.layers:
            raise ValueError("FeatureSpec.layers must not be empty")
        if self.hidden_size < 1:
            raise ValueError(f"hidden_size must be >= 1, got {self.hidden_size}")

    @property
    def dim(self) -> int:
        return len(self.layers) * self.hidden_size

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def cue_features(hidden: dict[int, torch.Tensor], spec: FeatureSpec) -> torch.Tensor:
    """(len(layers) * H,) float32 from a cue's captured states; a clear error if a layer is missing."""
    missing = [layer for layer in spec.layers if layer not in hidden]
    if missing:
        raise ValueError(f"cue states lack layer(s) {missing}; captured: {sorted(hidden)}")
    return torch.cat([hidden[layer].float().reshape(-1) for layer in spec.layers])  # (L*H,)
