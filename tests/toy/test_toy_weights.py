"""The shipped toy model loads offline and writes a think block and a boxed answer."""

from __future__ import annotations

import json
import re

import pytest

from cotexit.toy import TOY_MODEL_DIR
from cotexit.benchmarks.arith_splits import arith_problems
from cotexit.toy.tokenizer import user_message

pytestmark = pytest.mark.skipif(
    not (TOY_MODEL_DIR / "model.safetensors").exists(), reason="toy weights not shipped in this checkout"
)


def test_folder_contents_and_marker():
    config = json.loads((TOY_MODEL_DIR / "config.json").read_text())
    assert config["cotexit_thinking_format"] == "toy"
    assert config["num_hidden_layers"] >= 8
    assert (TOY_MODEL_DIR / "model.safetensors").stat().st_size <= 15_000_000
    card = json.loads((TOY_MODEL_DIR / "card.json").read_text())
    assert {"train_wall_seconds", "eval", "layer_agreement", "train_config"} <= set(card)
    assert "chat_template" in json.loads((TOY_MODEL_DIR / "tokenizer_config.json").read_text())


def test_loads_offline_and_greedy_decodes_one_problem(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(TOY_MODEL_DIR)
    model = AutoModelForCausalLM.from_pretrained(TOY_MODEL_DIR).eval()
    problem = arith_problems("test", limit=1)[0]
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": user_message(problem.problem)}], add_generation_prompt=True, tokenize=False
    )
    ids = tok(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=320, do_sample=False, pad_token_id=tok.pad_token_id)
    text = tok.decode(out[0, ids.shape[1] :], skip_special_tokens=False)
    assert text.startswith("<think>\n")
    assert "</think>" in text
    assert re.search(r"\\boxed\{\d+\}", text)
