"""Which exits a run turns on, resolved against a loaded model: `Exits`.

Owns `Exits` (a probe artifact, a baseline policy, a layer-exit setting, or
any exit policies, together), `ResolvedExits` (what an engine is then
opened with: the policies, the cues they were calibrated on, and a factory
for the depth exit's step forward) and `SHIPPED_FOR_MODEL` (which shipped
probe `Exits(probe="shipped")` means for a registered model). A probe is
loaded through `ProbeExitPolicy.load`, so it runs on its own cues, layers and
cut and is refused for another model. The CLI's `--exit`, `--probe`,
`--baseline` and `--layer-exit` build one of these.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cotexit.baselines import parse_baseline
from cotexit.controller.cues import CueConfig
from cotexit.controller.policies import ExitPolicy
from cotexit.depth.config import LayerExitConfig
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.controller import ProbeExitPolicy
from cotexit.shipped import shipped_probe

SHIPPED_FOR_MODEL = {"toy": "toy-arith-settings"}  # registered model -> the probe shipped for it (`probes/<name>`)

ProbeSpec = str | os.PathLike[str] | ProbeArtifact


def shipped_probe_for(model: str) -> Path:
    """The folder of the probe shipped for registered model `model`; a clear error when none ships."""
    name = SHIPPED_FOR_MODEL.get(model)
    if name is None:
        raise ValueError(f"no probe ships for model {model!r}; pass a probe folder (shipped: {sorted(SHIPPED_FOR_MODEL)})")
    return shipped_probe(name)


@dataclass(frozen=True)
class ResolvedExits:
    """What an engine is opened with; `step_forward()` builds a fresh depth-exit step (None: every layer)."""

    policies: tuple[ExitPolicy, ...]
    cues: CueConfig | None  # the probe's own cues (None: the engine's defaults)
    step_forward: Callable[[], Any] | None
    probe: ProbeExitPolicy | None
    layer_exit: LayerExitConfig | None


@dataclass(frozen=True)
class Exits:
    """The exits of a run. Each part is optional; several combine (a probe with a layer exit, say).

    >>> Exits(baseline="budget:64").name
    'budget:64'
    >>> # Exits(probe="shipped")                         the probe shipped for the model (probes/toy-arith-settings for toy)
    >>> # Exits(probe="probes/my-model", layer_exit=LayerExitConfig(mode="exact"))
    """

    probe: ProbeSpec | None = None  # an artifact folder, a loaded artifact, or "shipped"
    probe_threshold: float | None = None  # overrides the calibrated threshold: the guarantee no longer applies
    baseline: str | None = None  # "deer:P", "consistency:K", "budget:N"
    layer_exit: LayerExitConfig | None = None
    policies: Sequence[ExitPolicy] = field(default=())  # any other exit policies, asked after these

    def __post_init__(self) -> None:
        if self.probe is not None and self.baseline is not None:
            raise ValueError("give a probe or a baseline, not both")
        if self.probe_threshold is not None and self.probe is None:
            raise ValueError("probe_threshold needs a probe")
        if self.baseline is not None:
            parse_baseline(self.baseline)  # a bad spec fails here, before any model loads
        if self.layer_exit is not None and not isinstance(self.layer_exit, LayerExitConfig):
            raise TypeError(f"layer_exit must be a LayerExitConfig, got {type(self.layer_exit).__name__}")
        object.__setattr__(self, "policies", tuple(self.policies))

    @property
    def name(self) -> str:
        parts = [
            "probe" if self.probe is not None else "",
            self.baseline or "",
            f"layer-exit-{self.layer_exit.mode}" if self.layer_exit is not None else "",
            *(p.name for p in self.policies),
        ]
        return "+".join(p for p in parts if p) or "none"

    def probe_path(self, model: str) -> ProbeSpec | None:
        """The probe folder (or artifact) this names for registered model `model`."""
        if isinstance(self.probe, str) and self.probe == "shipped":
            return shipped_probe_for(model)
        return self.probe

    def resolve(self, lm: Any) -> ResolvedExits:
        """The policies and depth step for `lm` (a `LoadedModel`); refuses a probe fitted on another model."""
        policies: list[ExitPolicy] = []
        probe = None
        spec = self.probe_path(lm.name)
        if spec is not None:
            probe = ProbeExitPolicy.load(spec, fingerprint=lm.fingerprint(), threshold=self.probe_threshold)
            policies.append(probe)
        if self.baseline is not None:
            policies.append(parse_baseline(self.baseline))
        policies.extend(self.policies)
        step_forward = None
        if self.layer_exit is not None:
            step_forward = _step_forward(lm, self.layer_exit)
        return ResolvedExits(tuple(policies), probe.cues if probe is not None else None, step_forward, probe, self.layer_exit)


def _step_forward(lm: Any, config: LayerExitConfig) -> Callable[[], Any]:
    from cotexit.depth.propagate import PropagateForward
    from cotexit.depth.speculative import engine_factory

    config.exit_points(lm.num_layers)  # range errors now, not mid-run
    if config.mode == "exact":
        return engine_factory(lm.model, config)  # the engines it makes share one draft policy
    return lambda: PropagateForward(lm.model, config)
