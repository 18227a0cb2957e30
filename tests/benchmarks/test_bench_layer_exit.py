"""`cotexit bench --layer-exit` end to end on the shipped toy model: the depth block of summary.json."""

from __future__ import annotations

import json

import pytest

from cotexit.cli.main import main
from cotexit.toy import TOY_MODEL_DIR

pytestmark = pytest.mark.skipif(not (TOY_MODEL_DIR / "model.safetensors").exists(), reason="toy weights not shipped")


@pytest.mark.parametrize("mode", ["propagate", "exact"])
def test_bench_reports_depth_savings_and_disagreement(tmp_path, mode):
    extra = ["--exit-every", "1", "--exit-threshold", "0.99"] if mode == "propagate" else ["--draft-layer", "3"]
    argv = ["bench", "--suite", "arith", "--limit", "2", "--max-new-tokens", "60", "--layer-exit", mode, *extra,
            "--out", str(tmp_path / mode)]
    assert main(argv) == 0
    summary = json.loads((tmp_path / mode / "summary.json").read_text())
    assert 0 < summary["mean_layers_per_token"] <= 9
    assert summary["wall_speedup"] > 0
    if mode == "exact":
        assert summary["same_text_as_full"] == 1.0 and summary["token_disagreement"] == 0.0
    else:
        assert 0.0 <= summary["token_disagreement_on_full_text"] <= 1.0
        assert summary["depth_saved_pct"] > 0
