"""`diagnose`: what a tokenizer, its chat template and a thinking format say, and the problems found."""

from __future__ import annotations

import json

import pytest
from tokenizers import normalizers

from cotexit.controller.cues import DEFAULT_CUES
from cotexit.controller.doctor import diagnose, diagnose_tokenizer
from cotexit.models.thinking import ThinkingFormat, get_format


@pytest.fixture
def no_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("doctor loaded model weights")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)


def problems(report) -> str:
    return "\n".join(f.problem for f in report.problems)


def test_toy_model_is_healthy(no_weights):
    report = diagnose("toy")
    assert report.ok, problems(report)
    assert report.fmt.name == "toy" and not report.fmt.prompt_opens_thinking and not report.opens_thinking
    assert report.template.prompt.endswith("<|assistant|>\n") and "Tom has 5 apples" in report.template.prompt
    assert [(t.tokens.single, t.added, t.special) for t in report.tags] == [(True, True, True)] * 2
    assert report.forced_exit_closes and report.num_layers == 8 and report.probe_layers == (3, 5, 8)
    assert [c.cue for c in report.cues] == list(DEFAULT_CUES)
    wait = report.cues[0]
    assert wait.at_start.pieces == ("Wait",) and wait.matches_at_start  # the toy writes cues after newlines
    json.dumps(report.to_json())


@pytest.mark.parametrize(("template", "opens"), [("old-r1", False), ("new-r1", True)])
def test_tokenizer_only_r1_folder(no_weights, tokenizer_folder, template, opens):
    """What a DeepSeek-R1-Distill tokenizer folder without weights reports; the name comes from config.json."""
    report = diagnose(str(tokenizer_folder(template)))
    assert report.ok, problems(report)
    assert report.fmt.name == "deepseek-r1" and report.fmt.prompt_opens_thinking is opens
    assert report.model_type == "qwen2" and report.probe_layers == (9, 19, 28)
    end = report.tags[1]
    assert end.role == "think_end" and end.tokens.single and end.special
    assert end.tokens.ids[0] in report.forced_exit.ids
    assert all(c.matches_at_start and c.matches_after_space for c in report.cues)
    data = report.to_json()
    assert data["ok"] and data["opens_thinking"] is opens and data["tags"][1]["tokens"]["single"]


def test_missing_template_is_a_problem(tokenizer_folder):
    report = diagnose(str(tokenizer_folder(None)))
    assert not report.ok and "no chat template" in problems(report)
    assert report.fmt.prompt_opens_thinking  # the deepseek-r1 fallback
    assert report.template.prompt.startswith("Question: ")


def test_forced_exit_that_does_not_close_thinking(tokenizer_folder):
    report = diagnose(str(tokenizer_folder("old-r1")), forced_exit="\nThe final answer is \\boxed{")
    assert not report.forced_exit_closes
    assert [f.problem for f in report.problems if "would not close thinking" in f.problem]
    assert "</think>" in report.problems[0].fix


def test_tags_split_into_pieces(templated):
    fmt = ThinkingFormat("reason", "<reason>", "</reason>", "\n</reason>\nThe final answer is \\boxed{")
    report = diagnose_tokenizer(templated("old-r1"), fmt)
    assert len(report.problems) == 2 and all("is split into" in f.problem for f in report.problems)
    assert not report.tags[0].tokens.single and report.forced_exit_closes


def test_cue_the_tokenizer_cannot_write(templated):
    tok = templated("old-r1")
    tok.backend_tokenizer.normalizer = normalizers.Replace("Hmm", "Hum")
    report = diagnose_tokenizer(tok, get_format("deepseek-r1"))
    assert [c.cue for c in report.cues if not c.matchable] == ["Hmm"]
    assert len(report.problems) == 1 and "cue 'Hmm' can never match" in report.problems[0].problem


def test_template_that_switches_thinking_off(templated):
    report = diagnose_tokenizer(templated("no-think"), get_format("qwen3"))
    assert "switches thinking off" in problems(report)


def test_plain_format_on_a_thinking_tokenizer(templated):
    report = diagnose_tokenizer(templated("new-r1"), get_format("plain"))
    assert report.opens_thinking and report.tags == ()
    found = problems(report)
    assert "opens '<think>'" in found and "'</think>' as a token" in found
    assert "--thinking-format" in report.problems[0].fix


def test_unreadable_model_is_bad_input(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'no-such/model-xyz'"):
        diagnose("no-such/model-xyz")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="has no tokenizer"):
        diagnose(str(tmp_path))


def test_template_that_cannot_render(templated):
    report = diagnose_tokenizer(templated("broken"), get_format("qwq"))
    assert report.template is None and report.fmt.prompt_opens_thinking  # the qwq fallback
    assert "cannot render" in problems(report)
    json.dumps(report.to_json())
