"""Probe fitting, artifacts (round trip, refusals) and the probe exit policy."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cotexit.controller.cues import CueEvent
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.controller import ProbeExitPolicy
from cotexit.probes.features import FeatureSpec, cue_features
from cotexit.probes.fit import auroc, expected_calibration_error
from cotexit.probes.probe import Probe, ProbeConfig

FINGERPRINT = {"model": "tiny", "config_sha256": "abc", "num_layers": 4, "hidden_size": 8, "tokenizer_sha256": "def"}


def data(n=300, d=16, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = X[:, 0] + 0.3 * rng.normal(size=n) > 0
    return X, y


@pytest.mark.parametrize("config", [ProbeConfig(), ProbeConfig(pca=8), ProbeConfig(kind="mlp", hidden=8)])
def test_probe_scores_match_the_sklearn_pipeline(config):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = data()
    probe = Probe.fit(X, y, config)
    scores = probe.score(torch.from_numpy(X)).numpy()
    steps = [StandardScaler()] + ([PCA(n_components=config.pca, random_state=config.seed)] if config.pca else [])
    if config.kind == "logistic":
        steps.append(LogisticRegression(C=config.C, max_iter=2000, class_weight="balanced"))
    else:
        steps.append(MLPClassifier(hidden_layer_sizes=(config.hidden,), alpha=1.0 / config.C, max_iter=500, random_state=config.seed))
    expected = make_pipeline(*steps).fit(X.astype(np.float64), y).predict_proba(X.astype(np.float64))[:, 1]
    np.testing.assert_allclose(scores, expected, atol=1e-4)
    assert auroc(scores, y) > 0.8


def make_artifact(threshold=0.7):
    X, y = data()
    return ProbeArtifact(
        probe=Probe.fit(X, y, ProbeConfig()),
        features=FeatureSpec(layers=(2, 4), hidden_size=8),
        fingerprint=FINGERPRINT,
        cues={"phrases": ["Wait"]},
        thinking_format={"name": "toy"},
        calibration={"mode": "accuracy-drop", "threshold": threshold, "epsilon": 0.02, "delta": 0.1},
    )


def test_round_trip_is_safetensors_and_json(tmp_path):
    artifact = make_artifact()
    folder = artifact.save(tmp_path / "probe")
    assert sorted(p.name for p in folder.iterdir()) == ["card.json", "probe.safetensors"]
    loaded = ProbeArtifact.load(folder)
    X = torch.from_numpy(data()[0][:5])
    torch.testing.assert_close(loaded.probe.score(X), artifact.probe.score(X))
    assert loaded.threshold == 0.7 and json.loads((folder / "card.json").read_text())["never_exit"] is False


def test_probe_for_another_model_is_refused(tmp_path):
    artifact = ProbeArtifact.load(make_artifact().save(tmp_path / "probe"))
    with pytest.raises(ValueError, match="fitted on model 'tiny'"):
        artifact.check_model({**FINGERPRINT, "model": "other", "hidden_size": 16})
    artifact.check_model(dict(FINGERPRINT))


@pytest.mark.parametrize("damage", ["card", "weights", "version", "dims"])
def test_corrupted_artifacts_are_clear_errors(tmp_path, damage):
    folder = make_artifact().save(tmp_path / "probe")
    card = json.loads((folder / "card.json").read_text())
    if damage == "card":
        (folder / "card.json").write_text("{not json")
    elif damage == "weights":
        (folder / "probe.safetensors").write_bytes(b"garbage")
    elif damage == "version":
        (folder / "card.json").write_text(json.dumps({**card, "card_version": 99}))
    else:
        (folder / "card.json").write_text(json.dumps({**card, "features": {"layers": [2], "hidden_size": 8}}))
    with pytest.raises(ValueError):
        ProbeArtifact.load(folder)


def test_failed_save_leaves_nothing(tmp_path):
    def boom(_):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        make_artifact().save(tmp_path / "probe", extras=boom)
    assert not (tmp_path / "probe").exists() and not list(tmp_path.iterdir())


def cue_with(hidden):
    return CueEvent("Wait", "Wait", 0, 0, 0, 0, hidden=hidden)


class Row:
    key = "p0"


def test_policy_fires_at_threshold_and_records_scores():
    artifact = make_artifact()
    X = torch.from_numpy(data()[0])
    scores = artifact.probe.score(X)
    high, low = int(scores.argmax()), int(scores.argmin())
    as_hidden = lambda i: {2: X[i, :8], 4: X[i, 8:]}  # noqa: E731
    assert cue_features(as_hidden(high), artifact.features).shape == (16,)
    policy = ProbeExitPolicy(artifact)
    cues = [cue_with(as_hidden(high)), cue_with(as_hidden(low))]
    assert policy(Row(), cues[0]) is True
    assert policy(Row(), cues[1]) is False
    assert policy(Row(), None) is False
    # the score is written on the cue it judged, so it travels with the row on every engine
    assert [c.score for c in cues] == pytest.approx([float(scores[high]), float(scores[low])], abs=1e-6)
    never = ProbeExitPolicy(make_artifact(threshold=None))
    assert never(Row(), cue_with(as_hidden(high))) is False


def test_metrics():
    assert auroc(np.array([0.1, 0.9]), np.array([False, True])) == 1.0
    assert auroc(np.array([0.5, 0.5]), np.array([False, True])) == 0.5
    assert expected_calibration_error(np.array([1.0, 0.0]), np.array([True, False])) == 0.0
