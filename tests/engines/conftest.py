"""What engine tests share: a probe calibrated on "Wait" alone, made as a user makes one
(`cotexit collect --cues Wait` on the toy model, then `cotexit calibrate`)."""

from __future__ import annotations

import pytest

from cotexit.cli.main import main

WAIT_PROBLEMS = 48  # calib problems collected: enough for the cue mode at alpha 0.3 to choose a threshold


@pytest.fixture(scope="session")
def wait_probe(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wait-probe")
    cues, probe = folder / "cues", folder / "probe"
    common = ["--model", "toy", "--max-new-tokens", "400"]
    assert main(["collect", "--suite", "arith", "--split", "calib", "--limit", str(WAIT_PROBLEMS), "--cues", "Wait",
                 "--batch-size", "16", "--out", str(cues), *common]) == 0
    assert main(["calibrate", "--data", str(cues), "--mode", "cue", "--alpha", "0.3", "--out", str(probe)]) == 0
    return probe
