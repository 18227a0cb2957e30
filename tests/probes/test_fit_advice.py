"""`fit_probe_artifact` on too small a collection: the error tells the split and the ways out, and they work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cotexit.calibration.digits import format_threshold
from cotexit.calibration.shortfall import TooFewSamples
from cotexit.cli.main import main
from cotexit.controller.semantics import EXIT_SEMANTICS
from cotexit.probes.cuedata import CueDataWriter, load_cue_data
from cotexit.probes.fit import fit_probe_artifact


def write(folder: Path, n: int) -> Path:
    """n problems of two cues each; feature 0 carries the forced answer's label."""
    rng = np.random.default_rng(0)
    meta = {
        "fingerprint": {"model": "tiny", "num_layers": 4, "hidden_size": 8}, "features": {"layers": [2, 4], "hidden_size": 8},
        "thinking_format": {"name": "toy"}, "exit_semantics": EXIT_SEMANTICS.to_json(),
        "cues": {"phrases": ["Wait"]}, "decode": {"temperature": 0.0}, "suite": "arith", "split": "calib",
    }
    writer = CueDataWriter(folder, meta, match_keys=("fingerprint",))
    problems, cues, features = [], [], []
    for i in range(n):
        for j in range(2):
            right = j == 1 or i % 3 == 0
            cues.append({
                "problem": f"p{i}", "index": j, "phrase": "Wait", "token_start": 10 * (j + 1), "token_end": 10 * (j + 1) + 1,
                "thinking_tokens_before": 10 * (j + 1), "forced_correct": right, "forced_tokens": 3,
            })
            x = rng.normal(size=16).astype(np.float32)
            x[0] = 3.0 if right else -3.0
            features.append(torch.from_numpy(x))
        problems.append({"id": f"p{i}", "full_correct": True, "thinking_tokens": 40, "total_tokens": 45})
    writer.append(problems, cues, torch.stack(features))
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return load_cue_data(write(tmp_path_factory.mktemp("advice") / "cues", 150))


def test_the_error_says_how_the_problems_were_split_and_what_to_change(data):
    with pytest.raises(TooFewSamples) as info:
        fit_probe_artifact(data, "accuracy-drop", epsilon=0.02, delta=0.1)
    text = str(info.value)
    assert text.startswith("accuracy-drop with epsilon=0.02, delta=0.1 needs at least 114 calibration problems")
    assert "got 75. The collection has 150 problems; calib_fraction 0.5 (--calib-fraction) sent 75 of them to " \
           "fitting the probe and 75 to calibration." in text
    assert "collect 77 more problems (227 in all at this fraction" in text
    assert "raise --calib-fraction to 0.76 (114 to calibrate, 36 left to fit the probe)" in text
    assert "ask for less: epsilon >= 0.0303 (at delta 0.1) or delta >= 0.22 (at epsilon 0.02)" in text


@pytest.mark.parametrize("change", [{"calib_fraction": 0.76}, {"epsilon": 0.0303}, {"delta": 0.22}])
def test_each_way_out_passes_the_check(data, change):
    levels = {"epsilon": 0.02, "delta": 0.1, "calib_fraction": 0.5} | change
    fit = fit_probe_artifact(data, "accuracy-drop", **levels)
    assert fit.calibration.n_problems >= 75


def test_collecting_the_named_total_passes_the_check(tmp_path):
    fit = fit_probe_artifact(load_cue_data(write(tmp_path / "cues", 227)), "accuracy-drop", epsilon=0.02, delta=0.1)
    assert fit.calibration.n_problems == 114


def test_a_larger_share_is_not_offered_when_the_collection_is_too_small(tmp_path):
    small = load_cue_data(write(tmp_path / "cues", 60))
    with pytest.raises(TooFewSamples) as info:
        fit_probe_artifact(small, "accuracy-drop", epsilon=0.02, delta=0.1, calib_fraction=0.5)
    assert "--calib-fraction to" not in str(info.value)
    assert "collect 167 more problems (227 in all" in str(info.value)


def test_cue_mode_estimates_problems_from_the_wrong_cue_rate(data):
    with pytest.raises(TooFewSamples, match=r"calibration cues whose forced answer is wrong; the table has \d+ .*"
                       r"collect about \d+ more problems"):
        fit_probe_artifact(data, "cue", alpha=0.01)


def test_cotexit_calibrate_prints_the_advice_and_the_threshold_with_its_digits(tmp_path, capsys):
    folder = write(tmp_path / "cues", 150)
    assert main(["calibrate", "--data", str(folder), "--mode", "accuracy-drop", "--epsilon", "0.02",
                 "--out", str(tmp_path / "probe")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "sent 75 of them to fitting the probe and 75 to calibration" in err
    assert "raise --calib-fraction to 0.76" in err
    assert not (tmp_path / "probe").exists()
    assert main(["calibrate", "--data", str(folder), "--mode", "accuracy-drop", "--epsilon", "0.02",
                 "--calib-fraction", "0.8", "--out", str(tmp_path / "probe")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    threshold = json.loads((tmp_path / "probe" / "card.json").read_text())["calibration"]["threshold"]
    shown = format_threshold(threshold)
    assert f"threshold │ {shown}" in out or f"threshold {shown}" in out
    assert f"score >= {format_threshold(threshold, digits=6)}" in out
