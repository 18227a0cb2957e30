"""`collect --backend vllm` against the decode loop's collection (marker `vllm`): same cues, cuts, labels, features.

Greedy, so both backends write the same traces; each cue's trial then runs from the same prefix (before the
cue, or after it with keep-cue) and must give the same forced answer, and the features come from vLLM's own
forward (float tolerance).
"""

from __future__ import annotations

import pytest

vllm = pytest.importorskip("vllm")

import torch  # noqa: E402

from cotexit.engines.decoding import DecodeConfig  # noqa: E402
from cotexit.engines.vllm import VllmOptions  # noqa: E402
from cotexit.experiments.collect import CollectConfig, run_collect  # noqa: E402
from cotexit.probes.cuedata import load_cue_data  # noqa: E402
from cotexit.toy import TOY_MODEL_DIR  # noqa: E402

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not (TOY_MODEL_DIR / "model.safetensors").exists(), reason="toy weights not shipped"),
]
OPTIONS = VllmOptions(max_model_len=768, dtype="float32")
SAME = ("problem", "index", "phrase", "token_start", "token_end", "cut", "forced_answer", "forced_correct", "forced_tokens")


def collect(toy, out, backend, cut):
    config = CollectConfig(suite="arith", model="toy", split="calib", limit=6, layers=(3, 8), batch_size=3, budgets=(16,),
                           decode=DecodeConfig(max_new_tokens=300), exit_semantics=cut, backend=backend)
    list(run_collect(toy, config, out, OPTIONS if backend == "vllm" else None))
    return load_cue_data(out)


@pytest.mark.parametrize("cut", ["before-cue", "keep-cue"])
def test_vllm_collects_what_the_decode_loop_collects(toy, tmp_path, cut):
    hf, got = collect(toy, tmp_path / "hf", "hf", cut), collect(toy, tmp_path / "vllm", "vllm", cut)
    assert len(hf.cues) >= 6 and got.meta["backend"] == "vllm" and got.meta["exit_semantics"] == hf.meta["exit_semantics"]
    assert [{k: c[k] for k in SAME} for c in got.cues] == [{k: c[k] for k in SAME} for c in hf.cues]
    for c, h in zip(got.cues, hf.cues):
        assert c["forced_mean_prob"] == pytest.approx(h["forced_mean_prob"], abs=1e-4)
    torch.testing.assert_close(got.features, hf.features, atol=2e-4, rtol=1e-4)
    keep = ("id", "prediction", "full_correct", "thinking_tokens", "total_tokens", "finish_reason", "n_cues")
    assert [{k: p[k] for k in keep} for p in got.problems] == [{k: p[k] for k in keep} for p in hf.problems]
    assert [p["budget_trials"]["16"]["answer"] for p in got.problems] == [p["budget_trials"]["16"]["answer"] for p in hf.problems]
    with pytest.raises(ValueError, match="backend"):
        collect(toy, tmp_path / "hf", "vllm", cut)  # resuming hf data on vllm is refused


def test_bench_sweep_on_vllm_writes_the_loops_pareto_points(tmp_path):
    """`bench --sweep --backend vllm`: its trials at every cue are a vLLM collection; greedy, the points are hf's."""
    from cotexit.cli.main import main

    base = ["bench", "--suite", "arith", "--limit", "4", "--max-new-tokens", "300", "--exit", "--sweep",
            "--sweep-budgets", "16,64", "--dtype", "float32", "--temperature", "0"]  # greedy: not the probe's T
    assert main([*base, "--out", str(tmp_path / "hf")]) == 0
    assert main([*base, "--backend", "vllm", "--max-model-len", "768", "--out", str(tmp_path / "vllm")]) == 0
    assert load_cue_data(tmp_path / "vllm" / "sweep-data").meta["backend"] == "vllm"
    assert (tmp_path / "vllm" / "sweep.csv").read_text() == (tmp_path / "hf" / "sweep.csv").read_text()
