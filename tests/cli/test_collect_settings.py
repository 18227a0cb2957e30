"""`collect --temperature 0,1`: every problem at each setting, one resumable folder per setting, listed in order."""

from __future__ import annotations

import json

import pytest

from cotexit.cli.main import main
from cotexit.probes.cuedata import load_settings


def test_collect_over_temperatures_writes_one_folder_per_setting_and_resumes(tmp_path, capsys):
    out = tmp_path / "cues"
    argv = ["collect", "--suite", "arith", "--split", "calib", "--limit", "2", "--max-new-tokens", "48",
            "--temperature", "0,1", "--out", str(out)]
    assert main(argv) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "temperature-0: 2 problems" in text and "temperature-1: 2 problems" in text
    assert f"calibrate with `cotexit calibrate --data {out}`" in text
    listed = json.loads((out / "settings.json").read_text())["settings"]
    assert [(s["name"], s["decode"]["sampling"]["temperature"]) for s in listed] == [("temperature-0", 0.0), ("temperature-1", 1.0)]
    data = load_settings(out)
    assert [p["id"] for p in data["temperature-0"].problems] == [p["id"] for p in data["temperature-1"].problems]
    assert {d.meta["dtype"] for d in data.values()} == {"float32"}
    assert [d.meta["decode"]["sampling"]["temperature"] for d in data.values()] == [0.0, 1.0]
    before = {name: (out / name / "problems.jsonl").read_text() for name in data}
    assert main(argv) == 0  # the same command resumes: nothing is collected twice
    assert {name: (out / name / "problems.jsonl").read_text() for name in data} == before
    # another list of settings, or one setting, into the same folder is refused with a line saying why
    assert main([*argv[:-4], "--temperature", "0,0.6", "--out", str(out)]) == 2
    assert "holds a collection over settings ['temperature-0', 'temperature-1']" in " ".join(capsys.readouterr().err.split())
    assert main([*argv[:-4], "--temperature", "0", "--out", str(out)]) == 2
    assert "collect one setting into another --out" in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize("value", ["0,x", "-1", ","])
def test_bad_temperature_lists_are_refused_by_the_parser(capsys, value):
    with pytest.raises(SystemExit):
        main(["collect", "--suite", "arith", "--temperature", value, "--out", "x"])
    assert "--temperature" in capsys.readouterr().err
