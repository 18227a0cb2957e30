"""Redrawing a finished artifact's plots from its evidence leaves everything sealed as it was."""

from __future__ import annotations

import json
import shutil

import pytest
from synthetic_data import write_cue_data

from cotexit.certificates import verify
from cotexit.cli.main import main
from cotexit.depth.config import LayerExitConfig
from cotexit.probes.joint import replot_joint
from cotexit.probes.report import PLOTS, replot

PNG = b"\x89PNG\r\n\x1a\n"
SEALED = ("card.json", "evidence.safetensors", "probe.safetensors")


def sealed_bytes(folder):
    return {name: (folder / name).read_bytes() for name in SEALED}


def test_replot_redraws_the_plots_and_touches_nothing_sealed(tmp_path, probe_folder):
    folder = shutil.copytree(probe_folder, tmp_path / "probe")
    before = sealed_bytes(folder)
    for name in PLOTS:
        (folder / name).unlink(missing_ok=True)
    written = replot(folder)
    assert [p.name for p in written] == list(PLOTS)
    assert all(p.read_bytes()[:8] == PNG for p in written)
    assert sealed_bytes(folder) == before
    assert verify(folder).ok


def test_replot_refuses_an_edited_card(tmp_path, probe_folder):
    folder = shutil.copytree(probe_folder, tmp_path / "probe")
    card = json.loads((folder / "card.json").read_text())
    card["calibration"]["threshold"] = 0.5
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="calibration.threshold"):
        replot(folder)


def test_replot_joint(tmp_path_factory, probe_folder, toy_fingerprint):
    root = tmp_path_factory.mktemp("joint")
    light = json.loads(json.dumps(LayerExitConfig(points=tuple(range(1, 8)), thresholds=(0.999999,)).to_json()))
    common = dict(n=300, start=1000, seed=5)  # not the probe's problems (0..399)
    off = write_cue_data(root / "off", toy_fingerprint, **common)
    on = write_cue_data(root / "light", toy_fingerprint, flip=0.005, layer_exit=light, layers=6.0, **common)
    assert main(["calibrate-joint", "--probe", str(probe_folder), "--epsilon", "0.05", "--out", str(root / "art"),
                 "--data", str(off), str(on)]) == 0
    folder = root / "art"
    before = sealed_bytes(folder)
    (folder / "joint.png").unlink()
    assert replot_joint(folder).read_bytes()[:8] == PNG
    assert sealed_bytes(folder) == before
    assert verify(folder).ok
    with pytest.raises(ValueError, match="joint artifact"):
        replot(folder)
    with pytest.raises(ValueError, match="not a joint artifact"):
        replot_joint(probe_folder)
