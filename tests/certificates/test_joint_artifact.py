"""`calibrate-joint` end to end on synthetic collected data, and which runs a certificate covers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synthetic_data import write_cue_data

from cotexit.certificates import verify
from cotexit.cli.main import main
from cotexit.depth.config import LayerExitConfig
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.coverage import calibration_first_cue_scores, coverage

LIGHT = json.loads(json.dumps(LayerExitConfig(points=tuple(range(1, 8)), thresholds=(0.999999,)).to_json()))
HEAVY = json.loads(json.dumps(LayerExitConfig(points=tuple(range(1, 8)), thresholds=(0.9,)).to_json()))


@pytest.fixture(scope="module")
def joint_folder(tmp_path_factory, probe_folder, toy_fingerprint):
    root = tmp_path_factory.mktemp("joint")
    common = dict(n=600, start=1000, seed=5)  # not the probe's problems (0..399)
    off = write_cue_data(root / "off", toy_fingerprint, **common)
    light = write_cue_data(root / "light", toy_fingerprint, flip=0.005, layer_exit=LIGHT, layers=6.0, **common)
    heavy = write_cue_data(root / "heavy", toy_fingerprint, flip=0.3, layer_exit=HEAVY, layers=2.0, **common)
    code = main(["calibrate-joint", "--probe", str(probe_folder), "--epsilon", "0.05", "--out", str(root / "art"),
                 "--data", str(off), str(light), str(heavy)])
    assert code == 0
    return root / "art"


def test_joint_artifact_records_both_settings_and_verifies(joint_folder):
    card = json.loads((joint_folder / "card.json").read_text())
    cal = card["calibration"]
    assert cal["mode"] == "joint" and cal["arm"] == "propagate-softmax-0.999999"
    assert card["layer_exit"] == LIGHT and cal["threshold"] is not None
    heavy = next(a for a in cal["arms"] if a["layer_exit"] == HEAVY)
    assert heavy["n_certified"] == 0  # 30% of answers broken: not even its runs to the end pass
    assert (joint_folder / "joint.png").stat().st_size > 0
    assert verify(joint_folder).ok
    metrics = card["metrics"]["calibration_problems"]
    assert metrics["depth_saved_pct"] == pytest.approx(25.0) and metrics["compute_saved_pct"] > 25.0


def test_joint_artifact_is_covered_only_with_its_depth_setting(joint_folder):
    artifact = ProbeArtifact.load(joint_folder)
    assert coverage(artifact, LIGHT, 0.6)[0]
    covered, why = coverage(artifact, None, 0.6)
    assert not covered and "not with this run's no depth exit" in why
    assert calibration_first_cue_scores(artifact).size == 600


def test_plain_probe_coverage(probe_folder):
    artifact = ProbeArtifact.load(probe_folder)
    exact = LayerExitConfig(mode="exact", draft_layer=2).to_json()
    assert coverage(artifact, None, 0.6)[0]
    assert coverage(artifact, exact, 0.0)[0]
    assert not coverage(artifact, exact, 0.6)[0]
    covered, why = coverage(artifact, LIGHT, 0.0)
    assert not covered and "calibrate-joint" in why


def test_joint_calibration_refuses_bad_folders(tmp_path, probe_folder, toy_fingerprint):
    a = write_cue_data(tmp_path / "a", toy_fingerprint, n=300, start=1000, layer_exit=LIGHT)
    b = write_cue_data(tmp_path / "b", toy_fingerprint, n=300, start=1000, layer_exit=HEAVY)
    with pytest.raises(ValueError, match="exactly one folder collected without depth exits"):
        main_raise(["calibrate-joint", "--probe", str(probe_folder), "--epsilon", "0.05", "--out", str(tmp_path / "x"),
                    "--data", str(a), str(b)])
    assert not (tmp_path / "x").exists()


def main_raise(argv: list[str]) -> None:
    from cotexit.cli.main import build_parser

    args = build_parser().parse_args(argv)
    args.func(args)


def test_bench_reports_coverage_and_shift(tmp_path, capsys):
    shipped = Path(__file__).resolve().parents[2] / "probes" / "toy-arith"
    out = tmp_path / "run"
    assert main(["bench", "--suite", "arith", "--limit", "2", "--probe", str(shipped), "--layer-exit", "propagate",
                 "--exit-every", "2", "--temperature", "0.6", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "does not cover this run" in captured.err + captured.out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["guarantee"]["covers_run"] is False
    shift = summary["shift_check"]
    assert shift["shifted"] is False and shift["settings"] is None  # decoded at the calibration's T=0.6, same cues
    assert shift["scores"]["p_value"] is None and "not tested" in shift["message"]  # 2 first-cue scores < 20
