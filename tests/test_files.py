"""Files and folders cotexit writes follow the user's umask (`cotexit.files`): artifacts, evidence, cue data, results."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from cotexit import files
from cotexit.benchmarks.results import ProblemResult, ResultsFile
from cotexit.certificates.evidence import save_evidence
from cotexit.files import current_umask, follow_umask, follow_umask_tree
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.cuedata import CueDataWriter
from cotexit.probes.features import FeatureSpec
from cotexit.probes.probe import Probe, ProbeConfig


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_current_umask_reads_without_changing_it(mask):
    old = os.umask(mask)
    try:
        assert current_umask() == mask
        assert current_umask() == mask  # reading left it as it was
    finally:
        os.umask(old)


def test_current_umask_without_proc(monkeypatch, umask_022):
    monkeypatch.setattr(files, "_STATUS", Path("/nonexistent/status"))
    assert current_umask() == 0o022
    assert current_umask() == 0o022


def test_follow_umask_widens_private_temporaries(tmp_path, umask_022):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    fd, name = tempfile.mkstemp(dir=folder)
    os.close(fd)
    assert (mode(folder), mode(Path(name))) == (0o700, 0o600)
    follow_umask_tree(folder)
    assert (mode(folder), mode(Path(name))) == (0o755, 0o644)


def test_follow_umask_narrows_too(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    old = os.umask(0o077)
    try:
        assert follow_umask(path) == 0o600 and mode(path) == 0o600
    finally:
        os.umask(old)


def test_follow_umask_refuses_links(tmp_path):
    (tmp_path / "f").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "f")
    with pytest.raises(ValueError, match="is a link"):
        follow_umask(tmp_path / "link")


def test_artifact_folder_and_files_follow_the_umask(tmp_path, umask_022):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 16)).astype(np.float32)
    artifact = ProbeArtifact(
        probe=Probe.fit(X, X[:, 0] > 0, ProbeConfig()),
        features=FeatureSpec(layers=(2, 4), hidden_size=8),
        fingerprint={"model": "tiny", "num_layers": 4, "hidden_size": 8},
        cues={"phrases": ["Wait"]},
        thinking_format={"name": "toy"},
        calibration={"mode": "accuracy-drop", "threshold": 0.7, "epsilon": 0.02, "delta": 0.1},
        evidence={"scores": np.array([0.5, 0.9]), "forced_correct": np.array([True, False])},
    )
    out = artifact.save(tmp_path / "probes" / "mine", extras=lambda staging: (staging / "note.txt").write_text("x"))
    assert mode(out) == 0o755
    names = sorted(p.name for p in out.iterdir())
    assert names == ["card.json", "evidence.safetensors", "note.txt", "probe.safetensors"]
    assert {name: mode(out / name) for name in names} == dict.fromkeys(names, 0o644)


def test_evidence_follows_the_umask(tmp_path, umask_022):
    path = save_evidence({"x": np.zeros(3)}, tmp_path / "evidence.safetensors")
    assert mode(path) == 0o644


def test_collected_features_follow_the_umask(tmp_path, umask_022):
    writer = CueDataWriter(tmp_path / "cues", {"features": {"layers": [1], "hidden_size": 2}}, match_keys=())
    writer.append([{"id": "p0"}], [{"problem": "p0", "index": 0}], torch.zeros(1, 2))
    assert mode(tmp_path / "cues") == 0o755
    written = sorted((tmp_path / "cues").iterdir())
    assert [p.name for p in written] == ["cues.jsonl", "features-00000.safetensors", "meta.json", "problems.jsonl"]
    assert all(mode(p) == 0o644 for p in written)


def test_results_follow_the_umask(tmp_path, umask_022):
    results = ResultsFile(tmp_path / "run", {"suite": "arith"})
    results.append(ProblemResult(
        id="p0", gold="1", prediction="1", correct=True, thinking_tokens=1, total_tokens=2, prompt_tokens=3,
        cue_count=0, cue_positions=[], cue_phrases=[], finish_reason="eos", exit=None,
        timings={"row_s": 0.1, "batch": "p0"}, text="",
    ))
    assert mode(tmp_path / "run") == 0o755
    assert mode(tmp_path / "run" / "results.jsonl") == mode(tmp_path / "run" / "run.json") == 0o644
