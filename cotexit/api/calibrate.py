"""Calibrating a probe for a new model from Python: `collect`, then `calibrate_probe`; the CLI calls these.

Owns the two library entry points of the calibration workflow and their
input checks:

1. `collect(lm, suite=..., out=...)`: run a suite's problems (or, with
   `prompts=FILE`, the user's own prompts, no answers) to the end and label
   every cue with a forced exit (`cotexit collect`; resumable, one folder of
   cue data);
2. `calibrate_probe(data, mode=..., out=...)`: split the problems (by
   problem, never by cue), fit the probe on one part, choose its threshold
   with the mode's guarantee on the other, and write the artifact with its
   report (`cotexit calibrate`).

    >>> # lm = cotexit.load_model("toy")
    >>> # data = cotexit.collect(lm, suite="arith", split="calib", limit=200, out="runs/cues")
    >>> # fit = cotexit.calibrate_probe("runs/cues", mode="accuracy-drop", epsilon=0.02, out="probes/mine")
    >>> # cotexit.Exits(probe="probes/mine")

How the data are made is `cotexit.experiments.collect`'s; the statistics
are `cotexit.calibration`'s; the artifact is `cotexit.probes.artifact`'s.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cotexit.calibration import MODES
from cotexit.controller.capture import default_layers
from cotexit.controller.cues import CueConfig
from cotexit.engines.decoding import DecodeConfig
from cotexit.experiments.collect import CollectConfig, CollectProgress, run_collect
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.cuedata import CueData, load_cue_data, load_settings
from cotexit.probes.fit import FitResult, fit_probe_artifact
from cotexit.probes.fit_settings import fit_probe_over_settings
from cotexit.probes.probe import ProbeConfig
from cotexit.probes.report import write_report


def collect(
    lm: Any,
    *,
    suite: str | None = None,
    out: str | os.PathLike[str],
    prompts: str | None = None,
    split: str | None = "calib",
    limit: int | None = None,
    cues: CueConfig | None = None,
    layers: tuple[int, ...] | None = None,
    decode: DecodeConfig | None = None,
    progress: Callable[[CollectProgress], None] | None = None,
    **options: Any,
) -> CueData:
    """Collect cue data for `lm` (a `LoadedModel`) into `out` and return it; rerunning resumes.

    Give `suite` (problems with gold answers) or `prompts` (a JSON-lines file of prompts without answers, see
    `cotexit.benchmarks.prompt_files`; `split` is then not used and only `mode="answer-change"` can calibrate
    the data). `layers` default to evenly spaced ones plus the last; other `options` are `CollectConfig`'s
    (batch_size, offset, budgets, exit_semantics, backend, ...)."""
    config = CollectConfig(
        suite=suite, prompts=prompts, model=lm.name, split=None if prompts is not None else split, limit=limit,
        decode=decode or DecodeConfig(), cues=cues or CueConfig(),
        layers=tuple(layers) if layers else default_layers(lm.num_layers), **options,
    )
    for event in run_collect(lm, config, out):
        if progress is not None:
            progress(event)
    return load_cue_data(out)


def calibrate_probe(
    data: str | os.PathLike[str] | CueData,
    *,
    mode: str,
    out: str | os.PathLike[str],
    alpha: float | None = None,
    epsilon: float | None = None,
    delta: float = 0.1,
    probe: ProbeConfig | None = None,
    calib_fraction: float = 0.5,
    seed: int = 0,
    weights_from: str | os.PathLike[str] | None = None,
) -> FitResult:
    """Fit a probe on collected cue data, calibrate its threshold in `mode` and write the artifact to `out`.

    A folder collected over several decoding settings (`collect --temperature 0,0.6,1`) gives one threshold
    certified in every setting at once (`mode` accuracy-drop or answer-change; `cotexit.probes.fit_settings`).

    `weights_from` keeps that artifact's weights instead of fitting new ones (its features must match the data)
    and only recalibrates them."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if not 0.0 < calib_fraction < 1.0:
        raise ValueError(f"calib_fraction (--calib-fraction) must be in (0, 1), got {calib_fraction}")
    corpus: dict[str, Any] = {}
    settings = None
    if not isinstance(data, CueData):
        corpus["data"] = str(Path(data))
        settings = load_settings(data)  # a collection over several decoding settings: one certificate for all
        data = next(iter(settings.values())) if settings else load_cue_data(data)
    fitted = None
    if weights_from is not None:
        source = ProbeArtifact.load(weights_from)
        source.check_model(data.meta["fingerprint"])
        if json.loads(json.dumps(source.features.to_json())) != data.meta["features"]:
            raise ValueError(f"{weights_from} reads features {source.features.to_json()}, the data hold {data.meta['features']}")
        fitted, corpus["weights_from"] = source.probe, str(Path(weights_from))
    options = dict(epsilon=epsilon, delta=delta, alpha=alpha, probe=probe or ProbeConfig(seed=seed),
                   calib_fraction=calib_fraction, seed=seed, corpus=corpus, fitted=fitted)
    if settings:
        fit = fit_probe_over_settings(settings, mode, **options)
    else:
        fit = fit_probe_artifact(data, mode, **options)
    fit.artifact.save(out, extras=lambda staging: write_report(fit, staging))
    return fit
