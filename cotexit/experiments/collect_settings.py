"""Collecting over several decoding settings, for one certificate that holds in each of them.

Owns `setting_name` and `run_collect_settings`. A probe that will run at
greedy decoding and at temperatures 0.6 and 1.0 is calibrated on data from
each (`cotexit.calibration.settings`: a threshold accepted only when every
setting's own test accepts it). So the same problems are collected once per
setting, each setting into a folder of its own under `out` (an ordinary
`run_collect` folder: resumable, with its decoding in `meta.json`), and
`out/settings.json` lists the settings in order (`cotexit.probes.cuedata.
write_settings`). Settings differ in temperature only; everything else
(problems, seed, cues, layers, backend) is the one `CollectConfig`'s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cotexit.engines.decoding import DecodeConfig
from cotexit.experiments.collect import CollectConfig, CollectProgress, run_collect
from cotexit.models.loading import LoadedModel
from cotexit.probes.cuedata import write_settings


def setting_name(decode: DecodeConfig) -> str:
    """The folder and name of a setting: 'temperature-0', 'temperature-0.6'."""
    return f"temperature-{decode.sampling.temperature:g}"


def setting_configs(config: CollectConfig, temperatures: Sequence[float]) -> list[tuple[str, CollectConfig]]:
    """(name, config) per temperature: `config` with its decoding at that temperature."""
    if not temperatures:
        raise ValueError("give at least one temperature")
    out = []
    for t in temperatures:
        sampling = dataclasses.replace(config.decode.sampling, temperature=float(t))
        decode = dataclasses.replace(config.decode, sampling=sampling)
        one = dataclasses.replace(config, decode=decode)
        out.append((setting_name(decode), one))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"--temperature repeats a value: {', '.join(f'{t:g}' for t in temperatures)}")
    return out


def run_collect_settings(
    lm: LoadedModel, config: CollectConfig, temperatures: Sequence[float], out: str | Path, engine_options: Any = None
) -> Iterator[tuple[str, CollectProgress]]:
    """Collect `config` at each temperature into `out/<setting>/`, resuming what is there; yields (setting, progress)."""
    settings = setting_configs(config, temperatures)
    write_settings(out, [{"name": name, "decode": one.decode.to_json()} for name, one in settings])
    for name, one in settings:
        for event in run_collect(lm, one, Path(out) / name, engine_options):
            yield name, event
