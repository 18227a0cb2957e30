"""Forced-answer trials branch the cache and leave the main run untouched."""

from __future__ import annotations

import pytest
import torch

from cotexit.engines.decoding import DecodeConfig
from cotexit.engines.loop.decode import Decoder
from cotexit.controller.trials import ForcedRequest
from cotexit.engines.loop.forced import forced_answers
from cotexit.models.loading import chat_prompt
from cotexit.models.thinking import get_format


def make_decoder(model, tokenizer, **kw):
    return Decoder(model, tokenizer, get_format("deepseek-r1"), DecodeConfig(max_new_tokens=24, **kw))


def prompts(tokenizer):
    return [chat_prompt(tokenizer, "Tom has 5 apples."), chat_prompt(tokenizer, "What is 3 * 4 minus 5?")]


def test_trials_leave_the_main_run_unchanged(tiny_model, tokenizer):
    decoder = make_decoder(tiny_model, tokenizer)
    plain = decoder.generate(prompts(tokenizer), keys=["a", "b"])
    session = decoder.session(prompts(tokenizer), keys=["a", "b"])
    trials = []
    for event in session.steps():
        if event.step in (4, 9) and session.batch:
            requests = [ForcedRequest(r, p) for r in session.batch for p in (0, session.rows[r].fed)]
            trials += forced_answers(session, requests, max_tokens=5)
    assert trials, "no trial ran"
    for before, after in zip(plain, session.results()):
        assert after.token_ids == before.token_ids


def test_trial_equals_teacher_forced_greedy_answer(tiny_model, tokenizer):
    decoder = make_decoder(tiny_model, tokenizer)
    session = decoder.session(prompts(tokenizer), keys=["a", "b"])
    steps = session.steps()
    for _ in range(8):
        next(steps)
    requests = [ForcedRequest(0, 3), ForcedRequest(1, 7), ForcedRequest(0, 7)]
    answers = forced_answers(session, requests, max_tokens=4)
    for req, answer in zip(requests, answers):
        row = session.rows[req.row]
        ids = row.prompt_ids + row.tokens[: req.prefix] + decoder.forced_exit_ids
        expected = []
        for _ in range(len(answer.token_ids)):
            with torch.no_grad():
                expected.append(int(tiny_model(torch.tensor([ids + expected])).logits[0, -1].argmax()))
        assert answer.token_ids == expected
        assert all(0.0 < p <= 1.0 for p in answer.token_probs)


def test_trial_prefix_must_be_fed(tiny_llama, tokenizer):
    decoder = make_decoder(tiny_llama, tokenizer)
    session = decoder.session(prompts(tokenizer)[:1])
    next(session.steps())
    with pytest.raises(ValueError, match="prefix"):
        forced_answers(session, [ForcedRequest(0, 99)])
    with pytest.raises(ValueError, match="not running"):
        forced_answers(session, [ForcedRequest(5, 0)])
