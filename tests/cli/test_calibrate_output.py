"""What the calibrate commands print: thresholds with the digits that matter, and too-small sets refused early."""

from __future__ import annotations

import numpy as np
import pytest

from cotexit.calibration import CueTable, calibrate
from cotexit.cli import common
from cotexit.cli.calibrate import threshold_text
from cotexit.cli.main import main

F32 = [float(np.float32(1) - np.float32(2.0**-24) * k) for k in (1, 2, 3)]  # 0.99999994, 0.99999988, 0.99999982


def test_a_threshold_just_below_one_is_not_printed_as_one():
    # problem i's cues score 0.99999982 (wrong) then 0.99999988 (right): the certified threshold is 0.99999988
    table = CueTable.from_lists([[F32[2], F32[1]]] * 120, [[False, True]] * 120, [True] * 120)
    cal = calibrate(table, "accuracy-drop", epsilon=0.05)
    assert cal.threshold == F32[1]
    assert threshold_text(cal) == "0.99999988 (1 - 1.2e-07)"
    assert "score >= 0.99999988 is wrong" in cal.guarantee


def test_never_exit_and_ordinary_thresholds():
    table = CueTable.from_lists([[0.3, 0.6277530193]] * 120, [[False, True]] * 120, [True] * 120)
    assert threshold_text(calibrate(table, "accuracy-drop", epsilon=0.05)) == "0.6278"
    wrong = CueTable.from_lists([[0.9]] * 120, [[False]] * 120, [True] * 120)
    assert threshold_text(calibrate(wrong, "accuracy-drop", epsilon=0.05)) == "never exit"


def test_calibrate_depth_refuses_too_few_problems_before_loading(capsys, monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("the CLI loaded a model before rejecting bad input")

    monkeypatch.setattr(common, "load_model", refuse)
    code = main(["calibrate-depth", "--suite", "arith", "--split", "calib", "--limit", "50", "--epsilon", "0.02",
                 "--out", str(tmp_path / "d")])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert "50 calibration problems (arith calib, --skip 0, --limit 50) cannot certify --epsilon 0.02 at --delta 0.1: " \
           "at least 114 are needed" in err
    assert "raise --limit to 114; or ask for less: --epsilon >= 0.0451 (at --delta 0.1) or --delta >= 0.365" in err
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("limit", ["114", "200"])
def test_calibrate_depth_enough_problems_goes_on_to_the_model(capsys, monkeypatch, tmp_path, limit):
    def stop(*args, **kwargs):
        raise ValueError("reached the model")

    monkeypatch.setattr(common, "load_model", stop)
    main(["calibrate-depth", "--suite", "arith", "--split", "calib", "--limit", limit, "--epsilon", "0.02",
          "--out", str(tmp_path / "d")])
    assert "reached the model" in capsys.readouterr().err
