"""What the layer-exit engine does: where tokens may exit, how confidence is measured, and how sure it must be.

Owns `LayerExitConfig`. Exit points are layer numbers 1..N-1 (every k layers
or an explicit list); each has a threshold on the chosen confidence measure.
Modes: `propagate` (an exiting token's state fills the skipped layers' keys
and values, approximate) and `exact` (self-speculative drafts verified by the
full stack: output equals full greedy decoding). Exact mode's drafts come
from the early-exit layer (`drafter="layer"`), from the context
(`"context"`: prompt lookup, `cotexit.depth.drafters`), or from the context
when it has a match and the layer otherwise (`"auto"`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Measure = Literal["softmax", "margin", "saturation"]
Mode = Literal["propagate", "exact"]
Drafter = Literal["layer", "context", "auto"]
DRAFTERS = ("layer", "context", "auto")


@dataclass(frozen=True)
class LayerExitConfig:
    """
    >>> LayerExitConfig(every=2).exit_points(8)
    (2, 4, 6)
    >>> LayerExitConfig(mode="exact", draft_layer=3, max_draft=4).draft(8)
    (3,)
    >>> LayerExitConfig(mode="exact", draft_layers=(4, 2)).draft(8)
    (2, 4)
    """

    mode: Mode = "propagate"
    measure: Measure = "softmax"
    every: int | None = None
    points: tuple[int, ...] = ()
    thresholds: tuple[float, ...] = (0.9,)  # one for all exit points, or one per exit point
    draft_layer: int | None = None  # exact mode: the layer drafts exit from (default: the first exit point)
    draft_layers: tuple[int, ...] = ()  # exact mode: candidate draft layers, chosen between online by measured speed
    max_draft: int = 4
    drafter: Drafter = "layer"  # exact mode: where drafts come from
    ngram: int = 3  # context drafts: the longest tail matched
    adaptive: bool = True  # exact mode: arm and draft length chosen online (`cotexit.depth.adaptive`); False: fixed

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", tuple(int(p) for p in self.points))
        object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))
        object.__setattr__(self, "draft_layers", tuple(int(e) for e in self.draft_layers))
        if self.mode not in ("propagate", "exact"):
            raise ValueError(f"layer-exit mode must be 'propagate' or 'exact', got {self.mode!r}")
        if self.measure not in ("softmax", "margin", "saturation"):
            raise ValueError(f"confidence measure must be softmax, margin or saturation, got {self.measure!r}")
        if self.draft_layers and self.draft_layer is not None:
            raise ValueError("give one draft layer (draft_layer) or candidates (draft_layers), not both")
        if (self.every is None) == (not self.points) and self.draft_layer is None and not self.draft_layers:
            raise ValueError("give exit points either as every=K or as points=(...), not both and not neither")
        if self.every is not None and self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")
        if not self.thresholds or any(not 0.0 <= t <= 1.0 for t in self.thresholds):
            raise ValueError(f"thresholds must be in [0, 1], got {self.thresholds}")
        if self.max_draft < 1:
            raise ValueError(f"max_draft must be >= 1, got {self.max_draft}")
        if self.drafter not in DRAFTERS:
            raise ValueError(f"drafter must be one of {', '.join(DRAFTERS)}, got {self.drafter!r}")
        if self.ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {self.ngram}")

    def exit_points(self, num_layers: int) -> tuple[int, ...]:
        if self.points:
            points = self.points
        elif self.every is not None:
            points = tuple(range(self.every, num_layers, self.every))
        elif self.draft_layers:
            points = self.draft_layers
        else:
            points = (int(self.draft_layer),)
        bad = [p for p in points if not 1 <= p < num_layers]
        if bad:
            raise ValueError(f"exit points must be in 1..{num_layers - 1} for a {num_layers}-layer model, got {bad}")
        if len(self.thresholds) not in (1, len(points)):
            raise ValueError(f"{len(self.thresholds)} thresholds for {len(points)} exit points; give 1 or {len(points)}")
        return tuple(sorted(set(points)))

    def threshold_at(self, num_layers: int) -> dict[int, float]:
        points = self.exit_points(num_layers)
        values = self.thresholds * len(points) if len(self.thresholds) == 1 else self.thresholds
        return dict(zip(points, values))

    def draft(self, num_layers: int) -> tuple[int, ...]:
        """The candidate draft layers: `draft_layers`, else `draft_layer`, else the first exit point."""
        if self.draft_layers:
            layers = tuple(sorted(set(self.draft_layers)))
        else:
            layers = (self.draft_layer if self.draft_layer is not None else self.exit_points(num_layers)[0],)
        bad = [e for e in layers if not 1 <= e < num_layers]
        if bad:
            raise ValueError(f"draft layers must be in 1..{num_layers - 1}, got {bad}")
        return layers

    def to_json(self) -> dict[str, Any]:
        """The config as JSON; `drafter` and `ngram` only when the drafter is not the layer, `adaptive` only when
        off, `draft_layers` only when given (what configs written before they existed meant), so recorded settings and certified depth settings
        keep comparing equal. Neither changes what exact mode outputs."""
        out = asdict(self)
        if self.drafter == "layer":
            del out["drafter"], out["ngram"]
        if self.adaptive:
            del out["adaptive"]
        if not self.draft_layers:
            del out["draft_layers"]
        else:
            out["draft_layers"] = list(self.draft_layers)
        return out
