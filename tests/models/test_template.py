"""Whether the chat prompt opens thinking is read from the rendered template, not from the model's name."""

from __future__ import annotations

import json
import logging

import pytest

from cotexit.models.loading import load_model
from cotexit.models.template import chat_prompt, fit_format_to_template, inspect_chat_template
from cotexit.models.thinking import FORMATS, get_format


@pytest.mark.parametrize(
    ("template", "opens"),
    [("old-r1", False), ("new-r1", True), ("qwen3", False), ("qwq", True)],
)
def test_template_decides_whether_the_prompt_opens_thinking(templated, template, opens):
    tok = templated(template)
    for name in ("deepseek-r1", "qwen3", "qwq"):
        info = inspect_chat_template(tok, get_format(name))
        assert info.has_template and info.opens_thinking is opens and not info.closes_thinking
        assert fit_format_to_template(get_format(name), tok).prompt_opens_thinking is opens


def test_qwen3_is_asked_to_think(templated):
    tok = templated("qwen3")
    messages = [{"role": "user", "content": "hi"}]
    off = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, enable_thinking=False)
    assert off.endswith("</think>\n\n")  # the template really has the switch
    assert chat_prompt(tok, "hi").endswith("<|im_start|>assistant\n")


def test_a_template_that_switches_thinking_off_is_seen(templated):
    info = inspect_chat_template(templated("no-think"), get_format("qwen3"))
    assert info.closes_thinking and not info.opens_thinking


def test_without_a_template_the_registry_value_is_the_fallback(templated):
    tok = templated(None)
    info = inspect_chat_template(tok, get_format("deepseek-r1"))
    assert not info.has_template and info.prompt == "Question: What is 2 + 3?\nAnswer:"
    for fmt in FORMATS.values():
        assert fit_format_to_template(fmt, tok) == fmt


def test_tagless_formats_are_left_alone(templated):
    plain = get_format("plain")
    assert fit_format_to_template(plain, templated("new-r1")) is plain
    assert not inspect_chat_template(templated("new-r1"), plain).opens_thinking


def test_a_template_that_cannot_render_keeps_the_fallback(templated, caplog):
    tok = templated("broken")
    with pytest.raises(ValueError, match="only tool calls are supported"):
        inspect_chat_template(tok, get_format("qwq"))
    with caplog.at_level(logging.WARNING, logger="cotexit.models.template"):
        assert fit_format_to_template(get_format("qwq"), tok) == get_format("qwq")
    assert "keeping prompt_opens_thinking=True" in caplog.text


@pytest.mark.parametrize(
    ("template", "explicit", "expected"),
    [("old-r1", None, False), ("new-r1", None, True), ("old-r1", "qwq", False), ("new-r1", "qwen3", True)],
)
def test_load_model_reads_the_template(tmp_path, tiny_llama, templated, template, explicit, expected):
    folder = tmp_path / "DeepSeek-R1-Distill-tiny"
    tiny_llama.save_pretrained(folder)
    templated(template).save_pretrained(folder)
    lm = load_model(str(folder), thinking_format=explicit, device="cpu")
    assert lm.fmt.name == (explicit or "deepseek-r1")
    assert lm.fmt.prompt_opens_thinking is expected
    assert chat_prompt(lm.tokenizer, "hi").rstrip().endswith("<think>") is expected


def test_load_model_finds_the_family_in_the_recorded_name(tmp_path, tiny_llama, templated):
    """A folder whose name says nothing: the `_name_or_path` kept in config.json names the family."""
    tiny_llama.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["_name_or_path"] = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    (tmp_path / "config.json").write_text(json.dumps(config))
    templated("old-r1").save_pretrained(tmp_path)
    lm = load_model(str(tmp_path), device="cpu")
    assert lm.fmt.name == "deepseek-r1" and not lm.fmt.prompt_opens_thinking


def test_forced_exit_encodes_the_think_end_as_its_one_token(tokenizer):
    end_id = tokenizer.convert_tokens_to_ids("</think>")
    assert tokenizer("</think>", add_special_tokens=False)["input_ids"] == [end_id]
    for fmt in FORMATS.values():
        if fmt.has_tags:
            ids = tokenizer(fmt.forced_exit, add_special_tokens=False)["input_ids"]
            assert ids.count(end_id) == 1, fmt.name
            assert tokenizer.decode(ids, skip_special_tokens=False) == fmt.forced_exit
