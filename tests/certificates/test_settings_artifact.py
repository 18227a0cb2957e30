"""A probe certified over several decoding settings: one threshold every setting's test accepts, sealed and
re-checkable, and a card that lists the settings (with their dtype) it covers."""

from __future__ import annotations

import json

import pytest
from synthetic_data import write_cue_data

from cotexit.api.calibrate import calibrate_probe
from cotexit.certificates import seal, verify
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.coverage import calibration_first_cue_scores, certified_settings
from cotexit.probes.cuedata import load_settings, write_settings


def _decode(t: float) -> dict:
    return {"max_new_tokens": 1024, "max_answer_tokens": 32, "sampling": {"temperature": t, "top_p": 1.0, "seed": 0}}


@pytest.fixture(scope="module")
def settings_folder(tmp_path_factory, toy_fingerprint):
    root = tmp_path_factory.mktemp("settings") / "cues"
    settings = [("temperature-0", 0.0, 0.0), ("temperature-0.6", 0.6, 0.0), ("temperature-1", 1.0, 0.08)]
    write_settings(root, [{"name": n, "decode": _decode(t)} for n, t, _ in settings])
    for i, (name, t, mislead) in enumerate(settings):  # the same problems in each setting, other draws
        write_cue_data(root / name, toy_fingerprint, n=600, seed=10 + i, decode=_decode(t), dtype="float32",
                       mislead=mislead)
    return root


def test_one_threshold_certified_in_every_setting(settings_folder, tmp_path):
    fit = calibrate_probe(settings_folder, mode="accuracy-drop", epsilon=0.05, out=tmp_path / "probe")
    artifact = ProbeArtifact.load(tmp_path / "probe")
    cal = artifact.calibration
    assert [s["name"] for s in cal["settings"]] == ["temperature-0", "temperature-0.6", "temperature-1"]
    assert cal["threshold"] is not None and "in each of these settings at once" in cal["guarantee"]
    # every setting calibrates on the same held-out problems: the split is by problem id, shared by all settings
    assert {s["n_problems"] for s in cal["settings"]} == {artifact.metrics["n_calib_problems"]}
    assert artifact.metrics["n_train_problems"] + artifact.metrics["n_calib_problems"] == 600
    assert all(s["p_value"] <= cal["delta"] for s in cal["settings"])  # each setting's own test rejected
    # the card lists what it covers, with the dtype the features were computed in
    covered = certified_settings(artifact)
    assert [(s["name"], s["decode"]["sampling"]["temperature"], s["dtype"]) for s in covered] == [
        ("temperature-0", 0.0, "float32"), ("temperature-0.6", 0.6, "float32"), ("temperature-1", 1.0, "float32")]
    # the riskier setting binds: its threshold alone is stricter than the benign settings'
    alone = {
        name: calibrate_probe(settings_folder / name, mode="accuracy-drop", epsilon=0.05, out=tmp_path / name,
                              weights_from=tmp_path / "probe").calibration.threshold
        for name in ("temperature-0", "temperature-1")
    }
    assert alone["temperature-0"] < alone["temperature-1"]
    assert fit.calibration.threshold >= alone["temperature-0"]
    # the shift check compares a run with its own setting's calibration problems
    one = calibration_first_cue_scores(artifact, "temperature-1")
    assert 0 < len(one) < len(calibration_first_cue_scores(artifact))


def test_verify_recomputes_the_threshold_over_settings(settings_folder, tmp_path):
    calibrate_probe(settings_folder, mode="answer-change", epsilon=0.1, out=tmp_path / "probe")
    report = verify(tmp_path / "probe")
    assert report.ok, report.to_json()
    assert "in each of 3 settings" in next(c for c in report.checks if c.name == "calibration.threshold").detail
    card = json.loads((tmp_path / "probe" / "card.json").read_text())
    card["calibration"]["threshold"] -= 0.01  # and the digests recomputed to match: only the evidence can tell
    card = seal(card, {n: tmp_path / "probe" / n for n in card["certificate"]["files"]})
    (tmp_path / "probe" / "card.json").write_text(json.dumps(card))
    report = verify(tmp_path / "probe")
    assert not report.ok and not next(c for c in report.checks if c.name == "calibration.threshold").ok


def test_settings_folders_refuse_mixing(settings_folder, tmp_path, toy_fingerprint):
    with pytest.raises(ValueError, match="holds a collection over settings"):
        write_settings(settings_folder, [{"name": "temperature-0", "decode": _decode(0.0)}])
    with pytest.raises(ValueError, match="over several settings; collect one setting into another"):
        write_cue_data(settings_folder, toy_fingerprint, n=3)
    assert list(load_settings(settings_folder)) == ["temperature-0", "temperature-0.6", "temperature-1"]
    other = tmp_path / "other"
    write_settings(other, [{"name": "temperature-0", "decode": _decode(0.0)}, {"name": "temperature-1", "decode": _decode(1.0)}])
    write_cue_data(other / "temperature-0", toy_fingerprint, n=50, decode=_decode(0.0), dtype="float32")
    write_cue_data(other / "temperature-1", toy_fingerprint, n=50, decode=_decode(1.0), dtype="bfloat16")
    with pytest.raises(ValueError, match="'temperature-1' was collected with other dtype"):
        calibrate_probe(other, mode="accuracy-drop", epsilon=0.1, out=tmp_path / "p")
    with pytest.raises(ValueError, match="calibrates in mode accuracy-drop or answer-change"):
        calibrate_probe(settings_folder, mode="stop-precision", alpha=0.1, out=tmp_path / "p")


def test_a_model_in_another_dtype_than_the_probes_features_is_warned(settings_folder, tmp_path):
    import cotexit

    calibrate_probe(settings_folder / "temperature-0", mode="accuracy-drop", epsilon=0.05, out=tmp_path / "probe")
    assert ProbeArtifact.load(tmp_path / "probe").corpus["dtype"] == "float32"  # a one-setting card records it too
    with pytest.warns(UserWarning, match="computed in float32 and this model computes in bfloat16"):
        cotexit.Engine(cotexit.load_model("toy", dtype="bfloat16"), exits=cotexit.Exits(probe=tmp_path / "probe")).close()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cotexit.Engine(cotexit.load_model("toy"), exits=cotexit.Exits(probe=tmp_path / "probe")).close()
