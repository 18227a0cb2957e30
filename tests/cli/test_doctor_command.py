"""`cotexit doctor`: the rendered report, `--json`, and exit codes 0 (healthy), 1 (problems) and 2 (bad input)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from cotexit.cli.main import main

OLD_R1 = (
    "{% for m in messages %}<｜User｜>{{ m['content'] }}{% endfor %}"
    "{% if add_generation_prompt %}<｜Assistant｜>{% endif %}"
)
CONFIG = {"model_type": "qwen2", "num_hidden_layers": 28, "hidden_size": 64, "num_attention_heads": 4}


def folder(tmp_path: Path, tokenizer, template: str | None, name: str = "DeepSeek-R1-Distill-tokenizer") -> Path:
    """Tokenizer files and config.json only, as someone would build from a tokenizer without weights."""
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = template
    path = tmp_path / name
    tok.save_pretrained(path)
    (path / "config.json").write_text(json.dumps(CONFIG), encoding="utf-8")
    return path


def test_toy_report(capsys):
    assert main(["doctor", "--model", "toy"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    for expected in ("thinking format: toy", "Tom has 5 apples", "the model writes <think> itself", "think_end",
                     "closes thinking", "probe layers by default: 3, 5, 8", "no problems found"):
        assert expected in out, expected


def test_tokenizer_only_folder_as_json(capsys, tmp_path, tokenizer):
    assert main(["doctor", "--model", str(folder(tmp_path, tokenizer, OLD_R1)), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["fmt"]["name"] == "deepseek-r1" and not report["opens_thinking"]
    assert report["template"]["prompt"].endswith("<｜Assistant｜>") and report["probe_layers"] == [9, 19, 28]
    assert [c["matchable"] for c in report["cues"]] == [True] * len(report["cues"])


def test_a_neutral_folder_whose_tokenizer_holds_think_tags_gets_a_tagged_format(capsys, tmp_path, tokenizer):
    """Neither the folder's name nor its config.json names a family: the tokenizer's <think> and </think> decide."""
    path = folder(tmp_path, tokenizer, OLD_R1, name="model")
    assert main(["doctor", "--model", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["fmt"]["name"] == "think-tags" and report["fmt"]["think_end"] == "</think>"
    assert tokenizer.convert_tokens_to_ids("</think>") in report["forced_exit"]["ids"] and report["forced_exit_closes"]
    assert not report["opens_thinking"]  # the template ends at the assistant marker: the model writes <think>


def test_template_that_opens_thinking(capsys, tmp_path, tokenizer):
    path = folder(tmp_path, tokenizer, OLD_R1.replace("<｜Assistant｜>", "<｜Assistant｜><think>\n"))
    assert main(["doctor", "--model", str(path)]) == 0
    assert "thinking open after the prompt: yes" in " ".join(capsys.readouterr().out.split())


def test_problems_exit_1_with_their_fixes(capsys, tmp_path, tokenizer):
    path = folder(tmp_path, tokenizer, None)
    argv = ["doctor", "--model", str(path), "--thinking-format", "qwen3", "--forced-exit", "\\nAnswer: \\boxed{"]
    assert main(argv) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "2 problem(s)" in out and "no chat template" in out and "would not close thinking" in out
    assert out.count("fix: ") == 2


@pytest.mark.parametrize("model", ["no-such-model-xyz", "toyy"])
def test_unknown_model_is_one_red_line(capsys, model):
    assert main(["doctor", "--model", model]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: unknown model"), lines
