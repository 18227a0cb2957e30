"""`--backend generate` on `bench` and `solve`, end to end on the shipped toy model, against `--backend hf`."""

from __future__ import annotations

import json

import pytest

from cotexit.cli.main import main
from cotexit.toy import TOY_MODEL_DIR

pytestmark = pytest.mark.skipif(not (TOY_MODEL_DIR / "model.safetensors").exists(), reason="toy weights not shipped")


def rows(folder):
    return [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]


def test_bench_generate_matches_hf_row_by_row_with_the_shipped_probe(tmp_path):
    common = ["bench", "--suite", "arith", "--limit", "3", "--batch-size", "3", "--max-new-tokens", "200", "--exit",
              "--temperature", "0"]  # greedy, not the probe's calibrated temperature: sampled engines differ
    assert main([*common, "--out", str(tmp_path / "hf")]) == 0
    assert main([*common, "--backend", "generate", "--out", str(tmp_path / "gen")]) == 0
    hf, gen = rows(tmp_path / "hf"), rows(tmp_path / "gen")
    assert [r["id"] for r in gen] == [r["id"] for r in hf]
    for a, b in zip(hf, gen):
        assert (b["exit"], b["prediction"], b["text"]) == (a["exit"], a["prediction"], a["text"])
        assert b["probe_scores"] == pytest.approx(a["probe_scores"], abs=1e-5)  # float order differs a little
        assert b["full"]["prediction"] == a["full"]["prediction"]
    summary = json.loads((tmp_path / "gen" / "summary.json").read_text())
    assert summary["backend"] == "generate" and "tokens_saved_pct" in summary


def test_bench_generate_plain_run_resumes_and_refuses_another_backend(tmp_path):
    out = str(tmp_path / "plain")
    argv = ["bench", "--suite", "arith", "--limit", "1", "--max-new-tokens", "40", "--backend", "generate", "--out", out]
    assert main(argv) == 0
    assert main([*argv[:4], "2", *argv[5:]]) == 0  # resumed: one more problem
    assert len(rows(tmp_path / "plain")) == 2
    assert main([*argv[:-4], "--out", out]) == 2  # the same folder on hf: other settings, refused


def test_layer_exit_and_sweep_are_refused_on_generate(tmp_path, capsys):
    base = ["bench", "--suite", "arith", "--limit", "1", "--backend", "generate", "--out", str(tmp_path / "x")]
    assert main([*base, "--layer-exit", "exact"]) == 2
    assert "layer exits run on the hf backend only" in capsys.readouterr().err
    assert main([*base, "--sweep", "--exit"]) == 2
    assert "--sweep runs on --backend hf or vllm" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_solve_on_generate_prints_the_exit(capsys):
    assert main(["solve", "Compute 3 + 4 * 2.", "--exit", "--backend", "generate", "--max-new-tokens", "200"]) == 0
    out = capsys.readouterr().out
    assert "answer:" in out and "probe scores at cues:" in out
