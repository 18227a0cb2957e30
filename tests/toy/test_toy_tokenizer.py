"""The toy tokenizer round-trips traces and keeps the forced-exit text on token boundaries."""

from __future__ import annotations

import random

import pytest

from cotexit.benchmarks.arith_splits import arith_structured
from cotexit.toy.tokenizer import build_tokenizer, prompt_text, user_message
from cotexit.toy.traces import EOS, FORCED_EXIT, forced_reply, reply_text, write_trace


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def test_round_trip_on_traces(tok):
    for i, p in enumerate(arith_structured("test", 50)):
        text = prompt_text(p.text) + reply_text(write_trace(p, random.Random(i))) + EOS
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id not in ids
        assert tok.decode(ids) == text


def test_chat_template_matches_prompt(tok):
    p = arith_structured("test", 1)[0]
    rendered = tok.apply_chat_template(
        [{"role": "user", "content": user_message(p.text)}], add_generation_prompt=True, tokenize=False
    )
    assert rendered == prompt_text(p.text)
    assert "<think>" not in rendered


def test_forced_exit_is_a_clean_boundary(tok):
    p = arith_structured("test", 3)[2]
    trace = write_trace(p, random.Random(0))
    for cut in trace.cut_points():
        prefix, forced, _ = forced_reply(trace, cut)
        whole = tok(prefix + forced, add_special_tokens=False)["input_ids"]
        parts = tok(prefix, add_special_tokens=False)["input_ids"] + tok(forced, add_special_tokens=False)["input_ids"]
        assert whole == parts
    assert tok.convert_ids_to_tokens(tok(FORCED_EXIT, add_special_tokens=False)["input_ids"])[:3] == [
        "\n",
        "</think>",
        "\n",
    ]


def test_saved_tokenizer_loads_with_auto(tok, tmp_path):
    from transformers import AutoTokenizer

    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    text = "Wait, let me double-check.\n12 + 7 = 19."
    assert again(text)["input_ids"] == tok(text)["input_ids"]
    assert again.eos_token == EOS
