"""The driver and the CLI end to end on tiny random models: JSON, plots, per-layer arrays."""

from __future__ import annotations

import json

import pytest

from cotexit.benchmarks.records import Problem
from cotexit.cli.main import main
from cotexit.depth.analysis.run import AnalysisConfig, analyze
from cotexit.models.loading import LoadedModel
from cotexit.models.thinking import get_format

ROWS = [
    {"question": "Ann has 3 pens and buys 4. How many pens?", "answer": "3 + 4 = <<3+4=7>>7\n#### 7"},
    {"question": "Tom has 5 apples and buys 3 more.", "answer": "Let me compute 5 + 3 = 8. So 8.\n#### 8"},
]


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    (folder / "gsm8k").mkdir(parents=True)
    (folder / "gsm8k" / "test.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    return folder


def _lm(model, tokenizer) -> LoadedModel:
    return LoadedModel(name="tiny", path="tiny", model=model, tokenizer=tokenizer, fmt=get_format("plain"))


def test_driver_writes_per_layer_arrays(tiny_model, tokenizer, data_dir, tmp_path):
    config = AnalysisConfig(suite="gsm8k", limit=2, text="both", max_new_tokens=6, batch_size=2, data_dir=str(data_dir))
    events = list(analyze(_lm(tiny_model, tokenizer), config))
    assert {e.stage for e in events} == {"generate", "analyze", "done"}
    report = events[-1].report
    assert report is not None and set(report.texts) == {"gold", "generated"}
    path = report.write(tmp_path / "out")
    data = json.loads(path.read_text())
    n = tiny_model.config.num_hidden_layers
    assert data["layers"] == list(range(1, n + 1))
    for kind, text in data["texts"].items():
        for name, curve in text["curves"].items():
            assert len(curve) == n, (kind, name)
        assert text["curves"]["top1_agreement"][-1] == 1.0
        assert text["curves"]["topk_overlap"][-1] == 1.0
        assert text["curves"]["kl_final_to_layer"][-1] == 0.0
        assert sum(text["oracle"]["histogram"]) == text["n_tokens"] > 0
        assert 0.0 <= text["suitability"]["score"] <= text["oracle"]["depth_savings"] + 1e-12
        assert text["n_problems"] == 2
    # greedy replies, teacher-forced: the final top-1 reproduces the generated tokens
    assert data["texts"]["generated"]["final_top1_matches_text"] > 0.9
    assert "suitability" in data["texts"]["gold"]["suitability"]["formula"]


def test_driver_takes_given_problems(tiny_llama, tokenizer):
    problems = [Problem(id="arith/test/0", suite="arith", problem="What is 2 + 3?", answer="5")]
    config = AnalysisConfig(suite="arith", text="generated", max_new_tokens=4)
    report = list(analyze(_lm(tiny_llama, tokenizer), config, problems))[-1].report
    assert report.texts["generated"].n_tokens == 4


def test_cli_end_to_end(tiny_llama, tokenizer, data_dir, tmp_path):
    folder = tmp_path / "model"
    tiny_llama.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    out = tmp_path / "analysis"
    argv = ["analyze", "--model", str(folder), "--suite", "gsm8k", "--limit", "2", "--data-dir", str(data_dir)]
    assert main([*argv, "--out", str(out), "--top-k", "3", "--dtype", "float32", "--device", "cpu"]) == 0
    data = json.loads((out / "analysis.json").read_text())
    assert data["top_k"] == 3 and list(data["texts"]) == ["gold"]
    assert data["provenance"]["config"]["command"].startswith("cotexit")
    assert data["provenance"]["data"]["sha256"]
    assert (out / "curves.png").stat().st_size > 0 and (out / "oracle.png").stat().st_size > 0


def test_cli_bad_input_fails_before_loading(tmp_path, capsys):
    args = ["analyze", "--model", str(tmp_path / "nope"), "--suite", "aime25", "--text", "gold"]
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    assert "use --text generated" in capsys.readouterr().err
    assert main(["analyze", "--suite", "gsm8k", "--top-k", "0", "--out", str(tmp_path / "o")]) == 2
