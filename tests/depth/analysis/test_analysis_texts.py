"""Teacher-forced sequences, gold replies and the pre-norm block outputs."""

from __future__ import annotations

import json

import pytest
import torch

from cotexit.benchmarks.records import Problem
from cotexit.depth.analysis.states import block_outputs
from cotexit.models.parts import exit_head
from cotexit.depth.analysis.texts import (
    TeacherForced,
    check_gold_available,
    clean_solution,
    gold_reply,
    gold_solutions,
    gold_texts,
    teacher_forced,
)
from cotexit.models.thinking import get_format


def test_positions_are_those_predicting_reply_tokens():
    text = TeacherForced(key="k", kind="gold", input_ids=[5, 6, 7, 8, 9], reply_start=3)
    assert text.n_reply == 2
    assert list(text.positions) == [2, 3]
    with pytest.raises(ValueError, match="reply_start"):
        TeacherForced(key="k", kind="gold", input_ids=[1, 2], reply_start=0)


def test_truncation_keeps_the_prompt():
    text = teacher_forced("k", "gold", [1, 2, 3], [4, 5, 6, 7], max_len=5)
    assert text.input_ids == [1, 2, 3, 4, 5] and text.truncated and text.n_reply == 2
    with pytest.raises(ValueError, match="prompt alone"):
        teacher_forced("k", "gold", [1, 2, 3], [4], max_len=3)


def test_gold_reply_formats():
    assert clean_solution("gsm8k", "Ann has 3 + 4 = <<3+4=7>>7 pens.\n#### 7") == "Ann has 3 + 4 = 7 pens."
    plain = get_format("plain")
    assert gold_reply("So it is 7.", "7", plain) == "So it is 7.\n\nThe final answer is \\boxed{7}"
    assert gold_reply("It is $\\boxed{7}$.", "7", plain) == "It is $\\boxed{7}$."
    r1 = gold_reply("So it is 7.", "7", get_format("deepseek-r1"))  # the prompt opens <think>
    assert r1.startswith("So it is 7.\n</think>") and r1.endswith("\\boxed{7}")
    assert gold_reply("x", "7", get_format("qwen3")).startswith("<think>\nx")


def test_gold_unavailable_is_a_clear_error():
    with pytest.raises(ValueError, match="use --text generated"):
        check_gold_available("aime25")
    check_gold_available("gsm8k")


def test_gold_texts_from_a_data_file(tmp_path, tokenizer):
    rows = [{"question": "Tom has 5 apples and buys 3 more. How many?", "answer": "5 + 3 = <<5+3=8>>8\n#### 8"}]
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    problem = Problem(id="gsm8k/test/0", suite="gsm8k", problem=rows[0]["question"], answer="8")
    solutions = gold_solutions([problem], "test", tmp_path)
    assert solutions == ["5 + 3 = 8"]
    (text,) = gold_texts([problem], solutions, tokenizer, get_format("plain"))
    reply = tokenizer.decode(text.input_ids[text.reply_start :])
    assert reply == "5 + 3 = 8\n\nThe final answer is \\boxed{8}"
    assert tokenizer.decode(text.input_ids[: text.reply_start]).endswith("<|im_start|>assistant\n")


def test_block_outputs_are_pre_norm(tiny_model):
    ids = torch.arange(3, 15)
    head = exit_head(tiny_model)
    states = block_outputs(tiny_model, ids, head)  # (N, T, H)
    n = tiny_model.config.num_hidden_layers
    assert states.shape == (n, 12, tiny_model.config.hidden_size)
    with torch.no_grad():
        out = tiny_model(ids[None], output_hidden_states=True)
    for layer in range(1, n):
        assert torch.allclose(states[layer - 1], out.hidden_states[layer][0], atol=1e-6)
    with torch.no_grad():
        logits = head.lm_head(head.norm(states[-1]))  # (T, V)
    assert torch.allclose(logits, out.logits[0], atol=1e-5)
