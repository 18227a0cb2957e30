"""`cotexit bench --layer-exit` end to end on the shipped toy model: the depth block of summary.json."""

from __future__ import annotations

import json

import pytest

from cotexit.cli.main import main
from cotexit.toy import TOY_MODEL_DIR

pytestmark = pytest.mark.skipif(not (TOY_MODEL_DIR / "model.safetensors").exists(), reason="toy weights not shipped")


@pytest.mark.parametrize(
    "mode, extra",
    [
        ("propagate", ["--exit-every", "1", "--exit-threshold", "0.99"]),
        ("exact", ["--draft-layer", "3", "--drafter", "layer", "--max-draft", "4"]),
        ("exact", []),  # the defaults: candidate draft layers N/8, N/4, N/2, auto drafter, 10 drafts
    ],
)
def test_bench_reports_depth_savings_and_disagreement(tmp_path, mode, extra):
    argv = ["bench", "--suite", "arith", "--limit", "2", "--max-new-tokens", "60", "--layer-exit", mode, *extra,
            "--out", str(tmp_path / mode)]
    assert main(argv) == 0
    summary = json.loads((tmp_path / mode / "summary.json").read_text())
    rows = [json.loads(line) for line in (tmp_path / mode / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    assert summary["mean_layers_per_token"] > 0
    if extra:  # (context drafts are verified by the whole stack: a rejected one costs more than a layer per token)
        assert summary["mean_layers_per_token"] <= 9
    # One batch of two problems: its two timed runs, counted once (both rows carry them), and their ratio.
    (timings,) = {json.dumps({k: r["timings"][k] for k in ("full_batch_s", "treated_batch_s")}) for r in rows}
    timings = json.loads(timings)
    assert summary["wall_s_full"] == timings["full_batch_s"] and summary["wall_s_exit"] == timings["treated_batch_s"]
    assert summary["wall_speedup"] == pytest.approx(timings["full_batch_s"] / timings["treated_batch_s"])
    if mode == "exact":
        assert summary["same_text_as_full"] == 1.0 and summary["token_disagreement"] == 0.0
    else:
        # The engine read each full run's text: one comparison per token the full run generated.
        assert [r["full"]["forced_compared"] for r in rows] == [r["full"]["total_tokens"] for r in rows]
        rates = [r["full"]["forced_differing"] / r["full"]["forced_compared"] for r in rows]
        assert summary["token_disagreement_on_full_text"] == pytest.approx(sum(rates) / len(rates))
        assert summary["depth_saved_pct"] > 0
