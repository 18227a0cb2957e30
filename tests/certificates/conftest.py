"""Fixtures: the toy model's fingerprint (no weights read) and a certified probe fitted on synthetic cue data."""

from __future__ import annotations

import pytest
from synthetic_data import cue_data, write_cue_data

from cotexit.models.loading import load_model
from cotexit.probes.fit import fit_probe_artifact


@pytest.fixture(scope="session")
def toy_fingerprint():
    return load_model("toy", weights=False).fingerprint()


@pytest.fixture(scope="session")
def probe_folder(tmp_path_factory, toy_fingerprint):
    root = tmp_path_factory.mktemp("probe")
    data = cue_data(write_cue_data(root / "cues", toy_fingerprint, n=400))
    fit = fit_probe_artifact(data, "accuracy-drop", epsilon=0.05, delta=0.1)
    return fit.artifact.save(root / "probe")
