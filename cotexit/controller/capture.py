"""Which hidden states to keep during decoding, and where.

Owns `CaptureConfig` and the layer-numbering convention used across cotexit:
layer `l` in 1..N-1 is the output of decoder block `l`, N is the last block's
output after the final norm (as transformers reports `hidden_states`), 0 is
the embedding output, and negative numbers count from the end (-1 = N).
The decode loop reads these states from the forward pass it already runs
(hooks on just the asked-for modules, `cotexit.engines.loop.step`); no second
pass is made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

CaptureWhere = Literal["cues", "all"]


@dataclass(frozen=True)
class CaptureConfig:
    """Keep the states of `layers` at cue tokens (`where="cues"`) or at every generated token (`"all"`).

    >>> CaptureConfig(layers=(4, -1)).resolve(num_layers=8)
    (4, 8)
    """

    layers: tuple[int, ...] = ()
    where: CaptureWhere = "cues"

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(layer) for layer in self.layers))
        if self.where not in ("cues", "all"):
            raise ValueError(f"CaptureConfig.where must be 'cues' or 'all', got {self.where!r}")
        if len(set(self.layers)) != len(self.layers):
            raise ValueError(f"CaptureConfig.layers has duplicates: {self.layers}")

    @property
    def enabled(self) -> bool:
        return bool(self.layers)

    def resolve(self, num_layers: int) -> tuple[int, ...]:
        """Layer numbers in 0..num_layers, negatives resolved; a clear error when out of range."""
        resolved = []
        for layer in self.layers:
            absolute = layer + num_layers + 1 if layer < 0 else layer
            if not 0 <= absolute <= num_layers:
                raise ValueError(f"layer {layer} is out of range for a model with {num_layers} layers")
            resolved.append(absolute)
        return tuple(resolved)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def default_layers(num_layers: int, count: int = 3) -> tuple[int, ...]:
    """`count - 1` evenly spaced layers plus the last: (10, 19, 28) for 28 layers and count 3."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    spaced = [round(num_layers * (i + 1) / count) for i in range(count - 1)]
    return tuple(sorted(set([*spaced, num_layers])))
