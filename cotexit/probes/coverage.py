"""Whether a probe's certificate covers a run: the depth setting it was certified with against the run's.

Owns `coverage`, `certified_settings`, `certified_dtypes` and
`calibration_first_cue_scores`.
A probe's guarantee holds for the decoding settings (and dtype) it was
certified in (`certified_settings`; whether a run is one of them is
`cotexit.calibration.shift.settings_coverage`). It was also
earned with one depth setting (`ProbeArtifact.layer_exit`; None: every layer).
A run is covered when it uses that setting, or exact layer exit on a probe
certified without depth exits at greedy decoding (exact mode reproduces greedy
decoding token for token). Anything else (propagate mode the probe was not
calibrated with, a threshold override) is run but reported as not covered.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from cotexit.certificates.evidence import first_cue_scores, setting_tables, table_from_arrays
from cotexit.probes.artifact import ProbeArtifact


def _same_setting(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))  # tuples and lists alike


def coverage(artifact: ProbeArtifact, run_layer_exit: dict[str, Any] | None, temperature: float) -> tuple[bool, str]:
    """(covered, why) for a run with `run_layer_exit` (a LayerExitConfig's JSON, or None)."""
    certified = artifact.layer_exit
    if _same_setting(certified, run_layer_exit):
        what = "without depth exits, as this run" if certified is None else (
            f"with this run's depth setting {certified['mode']} at {certified['thresholds']}")
        return True, f"the probe was certified {what}"
    if certified is None and run_layer_exit is not None and run_layer_exit["mode"] == "exact":
        if temperature == 0:
            return True, "exact layer exit reproduces greedy decoding, so the probe's certificate applies unchanged"
        return False, "exact layer exit is certified only at greedy decoding"
    if certified is None:
        return False, (
            f"the probe was certified without depth exits, and this run adds {run_layer_exit['mode']} layer exit: "
            "the guarantee does not cover it (calibrate both together with `cotexit calibrate-joint`)"
        )
    return False, (
        f"the probe was certified together with depth setting {certified['mode']} at {certified['thresholds']}, "
        f"not with this run's {'no depth exit' if run_layer_exit is None else run_layer_exit['mode'] + ' at ' + str(run_layer_exit['thresholds'])}"
    )


def certified_settings(artifact: ProbeArtifact) -> list[dict[str, Any]]:
    """The decoding settings the probe's certificate covers, each {"name", "decode", "dtype"}.

    A probe calibrated over several settings lists them (`corpus.settings`); a one-setting probe has one, its
    calibration decoding (`decode` None: not recorded) and dtype (None: recorded only since cards carry it)."""
    corpus = artifact.corpus
    if corpus.get("settings"):
        return [dict(s) for s in corpus["settings"]]
    return [{"name": None, "decode": corpus.get("decode"), "dtype": corpus.get("dtype")}]


def certified_dtypes(artifact: ProbeArtifact) -> set[str]:
    """The dtypes the probe's features were computed in, over its certified settings (empty: not recorded)."""
    return {s["dtype"] for s in certified_settings(artifact) if s.get("dtype")}


def calibration_first_cue_scores(artifact: ProbeArtifact, setting: str | None = None) -> np.ndarray | None:
    """The first-cue scores of the calibration problems the threshold was certified on (None: no evidence).

    For a probe certified over several settings, those of `setting` (None: of all settings together)."""
    evidence = artifact.evidence
    if evidence is None:
        return None
    if artifact.calibration.get("mode") == "joint":
        arms = [a["name"] for a in artifact.calibration["arms"]]
        chosen = artifact.calibration.get("arm")
        if chosen is None:
            return None
        return first_cue_scores(table_from_arrays(evidence, f"arm{arms.index(chosen)}/"))
    if artifact.calibration.get("settings"):
        tables = setting_tables(evidence, [s["name"] for s in artifact.calibration["settings"]])
        chosen = [tables[setting]] if setting in tables else list(tables.values())
        return np.concatenate([first_cue_scores(t) for t in chosen])
    return first_cue_scores(table_from_arrays(evidence))
