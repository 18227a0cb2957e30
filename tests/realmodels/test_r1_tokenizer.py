"""The real DeepSeek-R1-Distill-Qwen-7B tokenizer and chat template, as cotexit sees them (slow: a download)."""

from __future__ import annotations

import json

import pytest

from cotexit.controller.cues import DEFAULT_CUES
from cotexit.models import chat_prompt
from cotexit.models.thinking import format_for_model, get_format

pytestmark = pytest.mark.slow

THINK, END_THINK = 151648, 151649
BOS, EOS, USER, ASSISTANT = 151646, 151643, 151644, 151645


def test_vocabulary_and_config_are_the_7bs(r1_tokenizer_dir, r1_tokenizer):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(r1_tokenizer_dir)
    assert r1_tokenizer.vocab_size == config.vocab_size == 152064
    assert (config.model_type, config.num_hidden_layers, config.hidden_size) == ("qwen2", 28, 3584)
    assert "DeepSeek-R1-Distill-Qwen-7B" in r1_tokenizer_dir.name
    assert format_for_model(str(r1_tokenizer_dir)).name == "deepseek-r1"
    assert (r1_tokenizer.bos_token_id, r1_tokenizer.eos_token_id) == (BOS, EOS)
    header = json.loads((r1_tokenizer_dir / "gguf_metadata.json").read_text())
    assert header["general.name"] == "DeepSeek R1 Distill Qwen 7B"


def test_think_tags_are_single_added_tokens(r1_tokenizer):
    assert r1_tokenizer.convert_tokens_to_ids(["<think>", "</think>"]) == [THINK, END_THINK]
    added = r1_tokenizer.added_tokens_decoder
    assert (added[THINK].content, added[END_THINK].content) == ("<think>", "</think>")
    assert not added[THINK].special and not added[END_THINK].special  # as the model's tokenizer.json marks them
    assert r1_tokenizer.encode("ok.</think>\n\nSo", add_special_tokens=False).count(END_THINK) == 1
    assert r1_tokenizer.encode("<think>\nHmm", add_special_tokens=False)[0] == THINK
    assert r1_tokenizer.decode([THINK, END_THINK], skip_special_tokens=True) == "<think></think>"


def test_cue_words_are_single_tokens_and_every_cue_round_trips(r1_tokenizer):
    for word in ("Wait", " Wait", "Hmm", " Hmm", "Alternatively", " Alternatively"):
        assert len(r1_tokenizer.encode(word, add_special_tokens=False)) == 1, word
    for phrase in DEFAULT_CUES:
        for text in (phrase, f"\n\n{phrase}, ", f"ok. {phrase} "):
            assert r1_tokenizer.decode(r1_tokenizer.encode(text, add_special_tokens=False)) == text


def test_chat_template_leaves_the_prompt_at_the_assistant_turn(r1_tokenizer):
    prompt = chat_prompt(r1_tokenizer, "What is 2 + 3?")
    assert prompt == "<｜begin▁of▁sentence｜><｜User｜>What is 2 + 3?<｜Assistant｜>"  # the older template: no <think>
    ids = r1_tokenizer.encode(prompt, add_special_tokens=False)
    assert ids[:2] == [BOS, USER] and ids[-1] == ASSISTANT and ids.count(BOS) == 1
    assert THINK not in ids


def test_forced_exit_closes_thinking_with_one_token(r1_tokenizer):
    ids = r1_tokenizer.encode(get_format("deepseek-r1").forced_exit, add_special_tokens=False)
    assert ids.count(END_THINK) == 1 and ids[1] == END_THINK


def test_plain_text_tokenizes_as_transformers_own_gguf_conversion_does(r1_tokenizer, real_traces):
    """The split pattern and merges agree with transformers' reading of the same header (special tokens aside)."""
    from r1_tokenizer import metadata_gguf
    from transformers import AutoTokenizer

    path = metadata_gguf()
    converted = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    for trace in real_traces[::4]:
        text = trace["text"].replace("<think>", "").replace("</think>", "")
        ours = r1_tokenizer.encode(text, add_special_tokens=False)
        assert ours == converted.encode(text, add_special_tokens=False)
