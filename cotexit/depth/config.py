"""What the layer-exit engine does: where tokens may exit, how confidence is measured, and how sure it must be.

Owns `LayerExitConfig`. Exit points are layer numbers 1..N-1 (every k layers
or an explicit list); each has a threshold on the chosen confidence measure.
Modes: `propagate` (an exiting token's state fills the skipped layers' keys
and values, approximate) and `exact` (self-speculative drafts verified by the
full stack: output equals full greedy decoding). Exact mode's drafts come
from the early-exit layer (`drafter="layer"`), from the context
(`"context"`: prompt lookup, `cotexit.depth.drafters`), or from the context
when it has a match and the layer otherwise (`"auto"`).

Exact mode's defaults are the configuration `eval/speculative` measured
fastest across the toy model and SmolLM2 (`EXACT_DEFAULTS`): candidate draft
layers at fractions of the model's depth (`draft_fractions`, resolved against
its number of layers when the engine is built), the `auto` drafter and 10
drafts per cycle at most. Configs recorded before these defaults (their JSON
has no `drafter` key when it was the layer, no `draft_fractions`) load with
`from_json` and mean what they meant.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Measure = Literal["softmax", "margin", "saturation"]
Mode = Literal["propagate", "exact"]
Drafter = Literal["layer", "context", "auto"]
DRAFTERS = ("layer", "context", "auto")

# exact mode with no draft layer, exit points or candidates given: the measured best (eval/speculative/README.md)
EXACT_DEFAULTS = {"draft_fractions": (1 / 8, 1 / 4, 1 / 2), "drafter": "auto", "max_draft": 10}
# what `drafter` and `max_draft` are otherwise: propagate mode (which does not draft) has always recorded these
OTHER_DEFAULTS = {"drafter": "layer", "max_draft": 4}
# a key `to_json` leaves out means this value (what configs written before the key existed meant)
LEFT_OUT = {"drafter": "layer", "ngram": 3, "adaptive": True, "draft_layers": (), "draft_fractions": ()}


@dataclass(frozen=True)
class LayerExitConfig:
    """
    >>> LayerExitConfig(every=2).exit_points(8)
    (2, 4, 6)
    >>> LayerExitConfig(mode="exact", draft_layer=3, max_draft=4).draft(8)
    (3,)
    >>> LayerExitConfig(mode="exact", draft_layers=(4, 2)).draft(8)
    (2, 4)
    >>> config = LayerExitConfig(mode="exact")  # the measured best: N/8, N/4, N/2, auto, 10 drafts
    >>> config.draft(8), config.draft(30), config.drafter, config.max_draft
    ((1, 2, 4), (3, 7, 15), 'auto', 10)
    """

    mode: Mode = "propagate"
    measure: Measure = "softmax"
    every: int | None = None
    points: tuple[int, ...] = ()
    thresholds: tuple[float, ...] = (0.9,)  # one for all exit points, or one per exit point
    draft_layer: int | None = None  # exact mode: the layer drafts exit from (default: the first exit point)
    draft_layers: tuple[int, ...] = ()  # exact mode: candidate draft layers, chosen between online by measured speed
    # exact mode: candidate draft layers as fractions of the model's depth, max(1, floor(f * N)) each; the default
    # when no draft layer, candidates or exit points are given
    draft_fractions: tuple[float, ...] = ()
    max_draft: int | None = None  # None: 10 in exact mode, 4 otherwise
    drafter: Drafter | None = None  # exact mode: where drafts come from; None: "auto" in exact mode, else "layer"
    ngram: int = 3  # context drafts: the longest tail matched
    adaptive: bool = True  # exact mode: arm and draft length chosen online (`cotexit.depth.adaptive`); False: fixed

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", tuple(int(p) for p in self.points))
        object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))
        object.__setattr__(self, "draft_layers", tuple(int(e) for e in self.draft_layers))
        object.__setattr__(self, "draft_fractions", tuple(float(f) for f in self.draft_fractions))
        if self.mode not in ("propagate", "exact"):
            raise ValueError(f"layer-exit mode must be 'propagate' or 'exact', got {self.mode!r}")
        defaults = EXACT_DEFAULTS if self.mode == "exact" else OTHER_DEFAULTS
        for name in ("drafter", "max_draft"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, defaults[name])
        layers_given = self.every is not None or self.points or self.draft_layer is not None or self.draft_layers
        if self.mode == "exact" and not layers_given and not self.draft_fractions:
            object.__setattr__(self, "draft_fractions", EXACT_DEFAULTS["draft_fractions"])
        if self.measure not in ("softmax", "margin", "saturation"):
            raise ValueError(f"confidence measure must be softmax, margin or saturation, got {self.measure!r}")
        if self.draft_layers and self.draft_layer is not None:
            raise ValueError("give one draft layer (draft_layer) or candidates (draft_layers), not both")
        if self.draft_fractions:
            if self.mode != "exact":
                raise ValueError(f"draft_fractions are for exact mode, got mode {self.mode!r}")
            if layers_given:
                raise ValueError("give draft layers as fractions (draft_fractions) or as layers or exit points, not both")
            if any(not 0.0 < f < 1.0 for f in self.draft_fractions):
                raise ValueError(f"draft_fractions must be in (0, 1), got {self.draft_fractions}")
        elif (self.every is None) == (not self.points) and self.draft_layer is None and not self.draft_layers:
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
        elif self.draft_fractions:
            points = tuple(max(1, int(f * num_layers)) for f in self.draft_fractions)
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
        """The candidate draft layers: `draft_layers`, else `draft_fractions` of `num_layers`, else `draft_layer`,
        else the first exit point."""
        if self.draft_layers:
            layers = tuple(sorted(set(self.draft_layers)))
        elif self.draft_fractions:
            layers = tuple(sorted({max(1, int(f * num_layers)) for f in self.draft_fractions}))
        else:
            layers = (self.draft_layer if self.draft_layer is not None else self.exit_points(num_layers)[0],)
        bad = [e for e in layers if not 1 <= e < num_layers]
        if bad:
            raise ValueError(f"draft layers must be in 1..{num_layers - 1} for a {num_layers}-layer model, got {bad}")
        return layers

    def to_json(self) -> dict[str, Any]:
        """The config as JSON; `drafter` and `ngram` only when the drafter is not the layer, `adaptive` only when
        off, `draft_layers` and `draft_fractions` only when given (what configs written before they existed
        meant), so recorded settings and certified depth settings keep comparing equal. Neither changes what
        exact mode outputs. `from_json` reads it back."""
        out = asdict(self)
        if self.drafter == "layer":
            del out["drafter"], out["ngram"]
        if self.adaptive:
            del out["adaptive"]
        for name in ("draft_layers", "draft_fractions"):
            if getattr(self, name):
                out[name] = list(getattr(self, name))
            else:
                del out[name]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LayerExitConfig:
        """A config `to_json` wrote, now or before the exact-mode defaults changed: a key left out means what it
        meant then (`LEFT_OUT`: the layer drafter, no candidates), not today's defaults.

        >>> import json
        >>> old = {"mode": "exact", "measure": "softmax", "every": 2, "points": [], "thresholds": [0.9],
        ...        "draft_layer": None, "max_draft": 4}  # `bench --layer-exit exact` before the defaults changed
        >>> config = LayerExitConfig.from_json(old)
        >>> config.draft(8), config.drafter, config.max_draft, json.loads(json.dumps(config.to_json())) == old
        ((2,), 'layer', 4, True)
        """
        unknown = sorted(set(data) - {f for f in cls.__dataclass_fields__})
        if unknown:
            raise ValueError(f"not LayerExitConfig fields: {unknown}")
        return cls(**{**LEFT_OUT, **data})
