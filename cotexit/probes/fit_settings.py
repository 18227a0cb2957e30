"""From a collection over several decoding settings to one probe certified in each of them.

Owns `fit_probe_over_settings`. The data are `collect --temperature 0,0.6,1`'s:
the same problems collected once per setting (`cotexit.probes.cuedata.
load_settings`). The split is by problem id, shared by every setting, so a
problem whose cues trained the probe in one setting never calibrates it in
another (the calibration problems stay independent of the fitted probe). The
probe is fitted once on the training problems' cues of all settings
together; each setting's calibration problems are scored and kept as a table
of their own, and `cotexit.calibration.settings.calibrate_over_settings`
chooses the one threshold that every setting's own test accepts. The card
records the settings covered (`corpus.settings`: each one's decoding and the
dtype its features were computed in), each setting's record at the threshold
(`calibration.settings`), and the evidence per setting (`setting<i>/...`,
`cotexit.certificates.evidence.setting_tables`),
from which `cotexit verify` recomputes the threshold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from cotexit.calibration import CueTable, evaluate, split_by_problem
from cotexit.calibration.settings import MODES, calibrate_over_settings
from cotexit.calibration.shortfall import TooFewSamples
from cotexit.certificates.evidence import SETTING_PREFIX, table_arrays
from cotexit.probes.cuedata import CueData
from cotexit.probes.fit import FitResult, cue_table, fitted_artifact, heldout_metrics, split_advice, sweep_thresholds
from cotexit.probes.outcomes import cue_labels, mode_metrics, require_gold
from cotexit.probes.probe import Probe, ProbeConfig

# what every setting's collection must share: they differ in their decoding only
SHARED = ("fingerprint", "features", "thinking_format", "exit_semantics", "cues", "suite", "split", "layer_exit",
          "prompts", "gold_read", "dtype", "backend")


def fit_probe_over_settings(
    datasets: Mapping[str, CueData],
    mode: str,
    *,
    epsilon: float | None,
    delta: float = 0.1,
    alpha: float | None = None,
    probe: ProbeConfig | None = None,
    calib_fraction: float = 0.5,
    seed: int = 0,
    corpus: dict[str, Any] | None = None,
    fitted: Probe | None = None,
) -> FitResult:
    """Fit on the training problems of every setting, certify one threshold in each (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"a collection over several settings calibrates in mode {' or '.join(MODES)}, not {mode!r}")
    if alpha is not None or epsilon is None:
        raise ValueError(f"{mode} takes epsilon (the bound in each setting), not alpha")
    names = list(datasets)
    first = datasets[names[0]]
    for name in names:
        require_gold(datasets[name], mode, where=f"setting {name!r}")
        differ = [k for k in SHARED if _saved(datasets[name].meta.get(k)) != _saved(first.meta.get(k))]
        if differ:
            raise ValueError(f"setting {name!r} was collected with other {', '.join(differ)} than {names[0]!r}")
    ids = sorted({p["id"] for data in datasets.values() for p in data.problems})
    if len(ids) < 2:
        raise ValueError(f"the collection holds {len(ids)} problem(s): nothing to split into training and calibration")
    train_pos, calib_pos = split_by_problem(len(ids), calib_fraction, seed)
    train_ids = {ids[i] for i in train_pos}
    train_x, train_y, per_setting = [], [], {}
    for name, data in datasets.items():
        labels, groups = cue_labels(data, mode), data.cues_by_problem()
        train = [i for i, p in enumerate(data.problems) if p["id"] in train_ids]
        calib = np.array([i for i, p in enumerate(data.problems) if p["id"] not in train_ids], dtype=np.int64)
        cues = np.array([j for i in train for j in groups[i]], dtype=np.int64)
        train_x.append(data.features[cues].numpy())
        train_y.append(labels[cues])
        per_setting[name] = (calib, labels, groups)
    if sum(len(y) for y in train_y) == 0:
        raise ValueError("none of the probe-training problems met a cue in any setting: nothing to fit the probe on")
    fitted_given = fitted is not None
    if fitted is None:
        fitted = Probe.fit(np.concatenate(train_x), np.concatenate(train_y), probe or ProbeConfig(seed=seed))
    tables: dict[str, CueTable] = {}
    held_scores, held_labels = [], []
    for name, data in datasets.items():
        calib, labels, groups = per_setting[name]
        with torch.no_grad():
            scores = fitted.score(data.features).numpy().astype(np.float64)
        tables[name] = cue_table(data, calib, scores, mode)
        cues = np.array([j for i in calib for j in groups[i]], dtype=np.int64)
        held_scores.append(scores[cues])
        held_labels.append(labels[cues])
    try:
        result = calibrate_over_settings(tables, epsilon, delta, mode=mode)
    except TooFewSamples as exc:
        raise exc.reworded(split_advice(exc, len(ids), calib_fraction, weights_kept=fitted_given)) from exc
    scores, labels = np.concatenate(held_scores), np.concatenate(held_labels)
    cal = result.calibration
    metrics = heldout_metrics(
        scores, labels, n_train=len(train_pos), n_calib=len(calib_pos), n_train_cues=sum(len(y) for y in train_y),
        calibration_split={name: mode_metrics(evaluate(cal, tables[name]), mode) for name in names},
    )
    covers = {  # what the guarantee covers: a run with one of these decodings, in this dtype
        "settings": [
            {"name": name, "decode": data.meta.get("decode"), "dtype": data.meta.get("dtype")}
            for name, data in datasets.items()
        ],
    }
    artifact = fitted_artifact(
        first.meta, fitted, cal,
        levels=sweep_thresholds(lambda level: calibrate_over_settings(tables, level, delta, mode=mode).calibration),
        evidence={k: v for i, name in enumerate(names) for k, v in table_arrays(tables[name], SETTING_PREFIX.format(i)).items()},
        metrics=metrics, corpus=corpus, seed=seed, calib_fraction=calib_fraction, covers=covers,
        settings=[asdict(record) for record in result.settings],
    )
    return FitResult(artifact, cal, _pooled(list(tables.values())), scores, labels)


def _pooled(tables: list[CueTable]) -> CueTable:
    """Every setting's calibration problems in one table (for the report's plots)."""
    offsets = [np.zeros(1, dtype=np.int64)]
    base = 0
    for t in tables:
        offsets.append(t.offsets[1:] + base)
        base += int(t.offsets[-1])
    with_tokens = all(t.has_tokens for t in tables)
    return CueTable(
        scores=np.concatenate([t.scores for t in tables]),
        forced_correct=np.concatenate([t.forced_correct for t in tables]),
        offsets=np.concatenate(offsets),
        full_correct=np.concatenate([t.full_correct for t in tables]),
        cue_tokens=np.concatenate([t.cue_tokens for t in tables]) if with_tokens else None,
        full_tokens=np.concatenate([t.full_tokens for t in tables]) if with_tokens else None,
    )


def _saved(value: Any) -> Any:
    return json.loads(json.dumps(value))

