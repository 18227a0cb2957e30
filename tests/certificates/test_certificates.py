"""Certificates: digests name what changed, `verify` recomputes thresholds, tampered artifacts are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cotexit.calibration.pvalues import hoeffding_bentkus_p_value
from cotexit.certificates import check_certificate, seal, verify
from cotexit.certificates.digest import CertificateError
from cotexit.cli.main import main
from cotexit.depth.calibrate import DepthCalibration, load_depth_artifact, save_depth_artifact, upgrade_depth_card
from cotexit.depth.config import LayerExitConfig
from cotexit.probes.artifact import ProbeArtifact

SHIPPED = Path(__file__).resolve().parents[2] / "probes"


def _copy(folder: Path, tmp_path: Path, name: str = "copy") -> Path:
    return Path(shutil.copytree(folder, tmp_path / name))


def _edit_card(folder: Path, edit, reseal: bool = False) -> None:
    card = json.loads((folder / "card.json").read_text())
    edit(card)
    if reseal:  # an attacker who recomputes the digests too
        files = {n: folder / n for n in card["certificate"]["files"]}
        card = seal(card, files)
    (folder / "card.json").write_text(json.dumps(card, indent=2))


def test_fitted_probe_is_sealed_and_verifies(probe_folder):
    assert (probe_folder / "evidence.safetensors").is_file()
    report = verify(probe_folder)
    assert report.ok, report.to_json()
    assert {c.name for c in report.checks} >= {"digests", "calibration.threshold", "calibration.thresholds_by_level"}
    assert ProbeArtifact.load(probe_folder).evidence is not None


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda c: c["calibration"].update(threshold=c["calibration"]["threshold"] - 0.05), "calibration.threshold"),
        (lambda c: c["calibration"].update(epsilon=0.2), "calibration.epsilon"),
        (lambda c: c["calibration"].update(delta=0.5), "calibration.delta"),
    ],
    ids=["threshold", "epsilon", "delta"],
)
def test_edited_card_is_refused_naming_the_field(probe_folder, tmp_path, edit, field):
    copy = _copy(probe_folder, tmp_path)
    _edit_card(copy, edit)
    with pytest.raises(ValueError, match=f"refusing probe artifact .*changed after calibration: {field}"):
        ProbeArtifact.load(copy)
    report = verify(copy)
    assert not report.ok and field in next(c for c in report.checks if c.name == "digests").detail


def test_flipped_weight_is_refused(probe_folder, tmp_path):
    copy = _copy(probe_folder, tmp_path)
    raw = bytearray((copy / "probe.safetensors").read_bytes())
    raw[-3] ^= 0x40  # one bit of the last weight
    (copy / "probe.safetensors").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="changed after calibration: probe.safetensors"):
        ProbeArtifact.load(copy)
    assert not verify(copy).ok


def test_resealed_edit_is_caught_by_recomputing_from_the_evidence(probe_folder, tmp_path):
    copy = _copy(probe_folder, tmp_path)
    _edit_card(copy, lambda c: c["calibration"].update(threshold=0.01), reseal=True)
    ProbeArtifact.load(copy)  # the digests match: only the recomputation can tell
    report = verify(copy)
    failed = [c.name for c in report.checks if not c.ok]
    assert failed == ["calibration.threshold"], report.to_json()
    _edit_card(copy, lambda c: c["calibration"].update(threshold=json.loads((probe_folder / "card.json").read_text())["calibration"]["threshold"], epsilon=0.3), reseal=True)
    report = verify(copy)
    assert [c.name for c in report.checks if not c.ok] == ["calibration.threshold"]
    assert "epsilon 0.3" in next(c for c in report.checks if c.name == "calibration.threshold").detail


def test_missing_and_unsealed_files_are_named(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"a")
    card = seal({"calibration": {"threshold": 0.5}}, {"a.bin": tmp_path / "a.bin"})
    (tmp_path / "a.bin").unlink()
    with pytest.raises(CertificateError, match=r"a.bin \(missing\)"):
        check_certificate(card, {"a.bin": tmp_path / "a.bin"})
    with pytest.raises(CertificateError, match="certificate"):
        check_certificate({"calibration": {}}, {})


def _depth_calibration() -> DepthCalibration:
    return DepthCalibration(
        threshold=0.99, epsilon_tok=0.05, delta=0.1, n_sequences=300, n_tokens=9000, points=(1, 2, 3),
        measure="softmax", guarantee="test", candidates=(0.999, 0.99, 0.9), risks=(0.001, 0.01, 0.2),
        p_values=tuple(float(p) for p in hoeffding_bentkus_p_value(np.array([0.3, 3.0, 60.0]), 300, 0.05)),
        mean_layers=(3.5, 3.0, 2.0), method="engine",
    )


def test_depth_artifact_is_sealed_verified_and_guarded(tmp_path, toy_fingerprint):
    config = LayerExitConfig(points=(1, 2, 3), thresholds=(0.99,))
    folder = save_depth_artifact(_depth_calibration(), config, toy_fingerprint, tmp_path / "depth", {"suite": "arith"})
    assert verify(folder).ok
    _edit_card(folder, lambda c: c["calibration"].update(threshold=0.9))
    with pytest.raises(ValueError, match="calibration.threshold"):
        load_depth_artifact(folder)
    _edit_card(folder, lambda c: None, reseal=True)
    report = verify(folder)
    assert [c.name for c in report.checks if not c.ok] == ["calibration.threshold"]


def test_version_1_depth_card_upgrades_only_when_its_statistics_hold(tmp_path, toy_fingerprint):
    config = LayerExitConfig(points=(1, 2, 3), thresholds=(0.99,))
    folder = save_depth_artifact(_depth_calibration(), config, toy_fingerprint, tmp_path / "depth", {})
    card = json.loads((folder / "card.json").read_text())
    old = {k: v for k, v in card.items() if k != "certificate"}
    old["card_version"] = 1
    old["calibration"] = {k: v for k, v in old["calibration"].items() if k != "p_value"}
    (folder / "evidence.safetensors").unlink()
    (folder / "card.json").write_text(json.dumps(old))
    assert not verify(folder).ok  # no certificate yet
    upgrade_depth_card(folder)
    assert verify(folder).ok
    old["calibration"]["threshold"] = 0.9  # an edited version 1 card cannot be sealed
    (folder / "card.json").write_text(json.dumps(old))
    (folder / "evidence.safetensors").unlink()
    with pytest.raises(ValueError, match="do not reproduce"):
        upgrade_depth_card(folder)


def test_every_shipped_artifact_verifies():
    folders = sorted(p for p in SHIPPED.iterdir() if (p / "card.json").is_file())
    assert folders
    for folder in folders:
        report = verify(folder)
        assert report.ok, report.to_json()


def test_cli_verify_exit_codes(probe_folder, tmp_path, capsys):
    assert main(["verify", str(probe_folder)]) == 0
    copy = _copy(probe_folder, tmp_path)
    _edit_card(copy, lambda c: c["calibration"].update(threshold=0.2))
    assert main(["verify", str(probe_folder), str(copy)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "calibration.threshold" in out
    assert main(["verify", str(tmp_path / "nothing")]) == 2


def test_bench_refuses_a_tampered_probe(probe_folder, tmp_path, capsys):
    copy = _copy(probe_folder, tmp_path)
    _edit_card(copy, lambda c: c["calibration"].update(epsilon=0.5))
    code = main(["bench", "--suite", "arith", "--limit", "1", "--probe", str(copy), "--out", str(tmp_path / "run")])
    assert code == 2
    assert "changed after calibration: calibration.epsilon" in capsys.readouterr().err
    assert not (tmp_path / "run" / "results.jsonl").exists()
