"""Which texts `cotexit analyze` reads when `--text` is not given: gold where the suite has it, else generated."""

from __future__ import annotations

import json

import pytest

from cotexit.cli.analyze import text_line
from cotexit.cli.main import main
from cotexit.depth.analysis.run import AnalysisConfig
from cotexit.depth.analysis.texts import default_text


@pytest.mark.parametrize(
    ("suite", "kind"), [("gsm8k", "gold"), ("math500", "gold"), ("arith", "generated"), ("aime25", "generated")]
)
def test_default_text_per_suite(suite, kind):
    assert default_text(suite) == kind
    assert AnalysisConfig(suite=suite).text == kind
    assert AnalysisConfig(suite=suite).to_json()["text"] == kind


def test_explicit_choices_are_kept_and_checked():
    assert AnalysisConfig(suite="gsm8k", text="generated").text == "generated"
    assert AnalysisConfig(suite="arith", text="generated").text == "generated"
    with pytest.raises(ValueError, match="suite 'arith' has no gold solution text.*use --text generated"):
        AnalysisConfig(suite="arith", text="gold")
    with pytest.raises(ValueError, match="unknown suite|did you mean"):
        default_text("gsm8kk")


def test_text_line_says_which_and_why():
    assert text_line(AnalysisConfig(suite="gsm8k"), chosen=False) == (
        "text: gold (the default: gsm8k has gold solutions; --text to choose)"
    )
    assert text_line(AnalysisConfig(suite="gsm8k", text="both"), chosen=True) == "text: both (--text)"


def test_cli_defaults_to_generated_on_arith_and_says_so(tiny_llama, tokenizer, tmp_path, capsys):
    folder = tmp_path / "model"
    tiny_llama.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    out = tmp_path / "analysis"
    argv = ["analyze", "--model", str(folder), "--suite", "arith", "--limit", "1", "--max-new-tokens", "4"]
    assert main([*argv, "--out", str(out), "--device", "cpu", "--dtype", "float32"]) == 0
    printed = capsys.readouterr().out
    assert "text: generated (the default: arith has no gold solutions; --text to choose)" in printed
    data = json.loads((out / "analysis.json").read_text())
    assert list(data["texts"]) == ["generated"]
    assert data["provenance"]["config"]["text"] == "generated"


def test_cli_explicit_gold_on_arith_is_one_error_line(tmp_path, capsys):
    assert main(["analyze", "--suite", "arith", "--text", "gold", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: suite 'arith' has no gold solution text") and "use --text generated" in err
    assert len(err.splitlines()) == 1
