"""The decode loop against teacher-forced forwards of tiny random Llama and Qwen2 models."""

from __future__ import annotations

import pytest
import torch

from cotexit.controller.capture import CaptureConfig
from cotexit.engines.decoding import DecodeConfig
from cotexit.engines.loop.decode import Decoder
from cotexit.controller.policies import ThinkingBudget
from cotexit.engines.decoding import SamplingConfig
from cotexit.models.loading import chat_prompt
from cotexit.models.thinking import get_format

QUESTIONS = ["Tom has 5 apples and buys 3 more.", "What is 3 * 4 minus 5? Please reason step by step.", "12 + 7"]


def prompts(tokenizer):
    return [chat_prompt(tokenizer, q) for q in QUESTIONS]


def teacher_forced(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids]), output_hidden_states=True)


def test_captured_states_equal_teacher_forced(tiny_model, tokenizer):
    decoder = Decoder(
        tiny_model,
        tokenizer,
        get_format("deepseek-r1"),
        DecodeConfig(max_new_tokens=12),
        capture=CaptureConfig(layers=(0, 1, 3, -1), where="all"),
    )
    results = decoder.generate(prompts(tokenizer), keys=["a", "b", "c"])
    for prompt, result in zip(prompts(tokenizer), results):
        prompt_ids = decoder.encode(prompt)
        out = teacher_forced(tiny_model, prompt_ids + result.token_ids)
        assert len(result.captured) == len(result.token_ids) - 1  # the newest token is never fed
        for index, by_layer in result.captured.items():
            for layer in (0, 1, 3, 4):
                expected = out.hidden_states[layer][0, len(prompt_ids) + index]
                torch.testing.assert_close(by_layer[layer], expected, atol=1e-5, rtol=1e-4)


def test_greedy_tokens_equal_teacher_forced_argmax(tiny_model, tokenizer):
    decoder = Decoder(tiny_model, tokenizer, get_format("plain"), DecodeConfig(max_new_tokens=10))
    prompt = prompts(tokenizer)[1]
    result = decoder.generate([prompt])[0]
    prompt_ids = decoder.encode(prompt)
    logits = teacher_forced(tiny_model, prompt_ids + result.token_ids).logits[0]
    expected = logits[len(prompt_ids) - 1 : len(prompt_ids) - 1 + len(result.token_ids)].argmax(-1)
    assert result.token_ids == expected.tolist()


def test_batched_greedy_matches_batch_of_one(tiny_model, tokenizer):
    decoder = Decoder(tiny_model, tokenizer, get_format("plain"), DecodeConfig(max_new_tokens=16))
    batched = decoder.generate(prompts(tokenizer), keys=["a", "b", "c"])
    for prompt, key, together in zip(prompts(tokenizer), "abc", batched):
        alone = decoder.generate([prompt], keys=[key])[0]
        assert alone.token_ids == together.token_ids


def test_sampling_is_seeded_per_row_and_independent_of_batch(tiny_llama, tokenizer):
    config = DecodeConfig(max_new_tokens=12, sampling=SamplingConfig(temperature=1.0, top_p=0.9, seed=3))
    decoder = Decoder(tiny_llama, tokenizer, get_format("plain"), config)
    batched = decoder.generate(prompts(tokenizer), keys=["a", "b", "c"])
    again = decoder.generate(prompts(tokenizer)[1:2], keys=["b"])[0]
    assert again.token_ids == batched[1].token_ids
    other_seed = Decoder(tiny_llama, tokenizer, get_format("plain"), DecodeConfig(12, sampling=SamplingConfig(1.0, 0.9, 4)))
    assert other_seed.generate(prompts(tokenizer)[1:2], keys=["b"])[0].token_ids != again.token_ids


def test_budget_exit_continues_like_a_fresh_run_of_the_cut_prefix(tiny_model, tokenizer):
    fmt = get_format("deepseek-r1")
    decoder = Decoder(tiny_model, tokenizer, fmt, DecodeConfig(max_new_tokens=40, max_answer_tokens=6), policies=[ThinkingBudget(5)])
    results = decoder.generate(prompts(tokenizer), keys=["a", "b", "c"])
    for prompt, result in zip(prompts(tokenizer), results):
        assert result.exit is not None and result.exit.policy == "budget-5"
        assert result.thinking_tokens == 5
        cut = result.exit.cut
        forced = decoder.encode(fmt.forced_exit)
        assert result.token_ids[cut : cut + len(forced)] == forced
        # Greedy continuation after the forced text equals a fresh teacher-forced run of the same tokens.
        prompt_ids = decoder.encode(prompt)
        ids = prompt_ids + result.token_ids
        logits = teacher_forced(tiny_model, ids).logits[0]
        start = len(prompt_ids) + cut + len(forced)
        expected = logits[start - 1 : len(ids) - 1].argmax(-1).tolist()
        assert result.token_ids[start - len(prompt_ids) :] == expected


def test_capture_layer_out_of_range_is_a_clear_error(tiny_llama, tokenizer):
    with pytest.raises(ValueError, match="out of range"):
        Decoder(tiny_llama, tokenizer, get_format("plain"), capture=CaptureConfig(layers=(9,)))


def test_bad_decode_config_values_are_named():
    with pytest.raises(ValueError, match="max_new_tokens"):
        DecodeConfig(max_new_tokens=0)
    with pytest.raises(ValueError, match="top_p"):
        SamplingConfig(top_p=0.0)
    with pytest.raises(ValueError, match="temperature"):
        SamplingConfig(temperature=-1)


def test_capture_leaves_no_hooks_on_the_model(tiny_model, tokenizer):
    decoder = Decoder(
        tiny_model, tokenizer, get_format("plain"), DecodeConfig(max_new_tokens=4), capture=CaptureConfig(layers=(2, -1))
    )
    before = [len(module._forward_hooks) for module in tiny_model.modules()]  # transformers may keep its own
    decoder.generate(prompts(tokenizer)[:1])
    assert [len(module._forward_hooks) for module in tiny_model.modules()] == before


def test_a_session_left_half_way_takes_its_hooks_off(tiny_llama, tokenizer):
    decoder = Decoder(
        tiny_llama, tokenizer, get_format("plain"), DecodeConfig(max_new_tokens=8), capture=CaptureConfig(layers=(2, -1))
    )
    before = [len(module._forward_hooks) for module in tiny_llama.modules()]
    session = decoder.session(prompts(tokenizer)[:2])
    steps = session.steps()
    next(steps)
    assert [len(module._forward_hooks) for module in tiny_llama.modules()] != before  # installed for the session
    steps.close()
    assert [len(module._forward_hooks) for module in tiny_llama.modules()] == before
    session = decoder.session(prompts(tokenizer)[:2])  # never stepped, then dropped
    del session
    import gc

    gc.collect()
    assert [len(module._forward_hooks) for module in tiny_llama.modules()] == before


def test_interleaved_sessions_on_one_model_capture_the_same_states(tiny_llama, tokenizer):
    capture = CaptureConfig(layers=(1, -1), where="all")
    config = DecodeConfig(max_new_tokens=10)
    alone = Decoder(tiny_llama, tokenizer, get_format("plain"), config, capture=capture).generate(prompts(tokenizer))
    plain = Decoder(tiny_llama, tokenizer, get_format("plain"), config)
    a = Decoder(tiny_llama, tokenizer, get_format("plain"), config, capture=capture).session(prompts(tokenizer))
    b = Decoder(tiny_llama, tokenizer, get_format("plain"), config, capture=capture).session(prompts(tokenizer)[::-1])
    c = plain.session(prompts(tokenizer))
    running = [a.steps(), b.steps(), c.steps()]
    while running:  # one step each in turn: the sessions share one tap, the plain one passes through it
        running = [s for s in running if next(s, None) is not None]
    for x, y in zip(alone + alone[::-1], a.results() + b.results()):
        assert x.token_ids == y.token_ids and x.captured.keys() == y.captured.keys()
        for index in x.captured:
            for layer in (1, 4):
                torch.testing.assert_close(x.captured[index][layer], y.captured[index][layer])
