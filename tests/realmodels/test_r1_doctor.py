"""`cotexit doctor` on the real DeepSeek-R1-Distill-Qwen-7B tokenizer folder (slow: a download)."""

from __future__ import annotations

import json
import shutil

import pytest

from cotexit.cli.main import main
from cotexit.controller.cues import DEFAULT_CUES

pytestmark = pytest.mark.slow


def test_doctor_finds_the_old_template_the_think_end_token_and_every_cue(r1_tokenizer_dir, capsys):
    assert main(["doctor", "--model", str(r1_tokenizer_dir)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    for expected in (
        "thinking format: deepseek-r1",
        "thinking open after the prompt: no",
        "the model writes <think> itself",
        "closes thinking",
        "probe layers by default: 9, 19, 28",
        "no problems found",
    ):
        assert expected in out, expected

    assert main(["doctor", "--model", str(r1_tokenizer_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["problems"] == [] and not report["opens_thinking"]
    assert report["template"]["prompt"].endswith("<｜Assistant｜>") and report["num_layers"] == 28
    end = next(tag for tag in report["tags"] if tag["role"] == "think_end")
    # One token matched whole; the model's own tokenizer marks <think> and </think> as added, not special, tokens.
    assert end["tokens"]["ids"] == [151649] and end["tokens"]["single"] and end["added"]
    assert 151649 in report["forced_exit"]["ids"] and report["forced_exit_closes"]
    assert [c["cue"] for c in report["cues"]] == list(DEFAULT_CUES)
    assert all(c["matchable"] for c in report["cues"])


@pytest.mark.parametrize("name", ["model", "r1"])
def test_doctor_takes_the_tagged_format_from_the_real_tokenizer_when_nothing_names_the_family(
    r1_tokenizer_dir, tmp_path, capsys, name
):
    """A folder holding only the real tokenizer and a Qwen2 config.json that records no model name."""
    folder = tmp_path / name
    folder.mkdir()
    for file in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (r1_tokenizer_dir / file).is_file():
            shutil.copy2(r1_tokenizer_dir / file, folder / file)
    config = json.loads((r1_tokenizer_dir / "config.json").read_text())
    assert config.pop("_name_or_path").startswith("deepseek-ai/")
    (folder / "config.json").write_text(json.dumps(config))

    assert main(["doctor", "--model", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["problems"] == []
    assert report["fmt"]["name"] == "think-tags" and report["model_type"] == "qwen2" and report["num_layers"] == 28
    ids = {tag["role"]: tag["tokens"]["ids"] for tag in report["tags"]}
    assert ids == {"think_start": [151648], "think_end": [151649]}
    assert 151649 in report["forced_exit"]["ids"] and report["forced_exit_closes"]
    assert not report["opens_thinking"]  # the old template: the model writes <think> itself
