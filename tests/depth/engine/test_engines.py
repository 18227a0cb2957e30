"""Layer-exit engines on tiny random Llama and Qwen2 models."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from cotexit.depth.calibrate import depth_table

from cotexit.depth.adaptive import DraftPolicy
from cotexit.depth.config import LayerExitConfig
from cotexit.depth.propagate import PropagateForward
from cotexit.depth.speculative import SpeculativeForward
from cotexit.controller import CaptureConfig, ThinkingBudget
from cotexit.engines.decoding import DecodeConfig
from cotexit.engines.loop import Decoder
from cotexit.models import chat_prompt, get_format
from cotexit.models.loading import LoadedModel

QUESTIONS = ["Tom has 5 apples and buys 3 more.", "What is 3 * 4 minus 5?"]
ALL_LAYERS = CaptureConfig(layers=(0, 1, 2, 3, 4), where="all")


def run(model, tokenizer, prompts, engine=None, **kw):
    options = {"step_forward": engine} if engine is not None else {}
    decoder = Decoder(model, tokenizer, get_format("plain"), DecodeConfig(max_new_tokens=32), capture=ALL_LAYERS, **options, **kw)
    return decoder.generate(prompts)


@pytest.mark.parametrize("draft_layer", [1, 2, 3])
def test_exact_mode_equals_full_greedy(tiny_model, tokenizer, draft_layer):
    config = LayerExitConfig(mode="exact", draft_layer=draft_layer, max_draft=4, drafter="layer", adaptive=False)
    engine = SpeculativeForward(tiny_model, config)
    generated = 0
    for question in QUESTIONS:
        prompt = [chat_prompt(tokenizer, question)]
        full = run(tiny_model, tokenizer, prompt)[0]
        fast = run(tiny_model, tokenizer, prompt, engine)[0]
        assert fast.token_ids == full.token_ids
        generated += len(fast.token_ids)
        for index, by_layer in full.captured.items():  # the probe would see the same states
            for layer, state in by_layer.items():
                torch.testing.assert_close(fast.captured[index][layer], state, atol=1e-4, rtol=1e-4)
    assert engine.stats.drafted > 0
    # Every token after the one the prompt pass gives is decided by the engine once: by a cycle or from its queue.
    assert engine.stats.tokens == generated - len(QUESTIONS)


@pytest.mark.parametrize("draft_layer", [1, 3])
def test_every_draft_is_accepted_when_the_blocks_after_the_draft_layer_add_nothing(tiny_model, tokenizer, draft_layer):
    """Blocks whose output projections are zero leave the residual stream as it is: the draft layer's state is the
    last layer's, so its drafts are the full stack's tokens and the engine must accept every one of them."""
    model = copy.deepcopy(tiny_model)
    with torch.no_grad():
        for block in model.model.layers[draft_layer:]:
            block.self_attn.o_proj.weight.zero_()
            block.mlp.down_proj.weight.zero_()
    config = LayerExitConfig(mode="exact", draft_layer=draft_layer, max_draft=4, drafter="layer", adaptive=False)
    engine = SpeculativeForward(model, config)
    prompts = [chat_prompt(tokenizer, q) for q in QUESTIONS]
    fast = run(model, tokenizer, prompts, engine)
    assert [r.token_ids for r in fast] == [r.token_ids for r in run(model, tokenizer, prompts)]
    assert engine.stats.drafted > 0 and engine.stats.accepted == engine.stats.drafted
    assert engine.stats.acceptance_rate == 1.0


def test_exact_mode_survives_a_forced_exit(tiny_llama, tokenizer):
    """A forced token that differs from the verified queue drops the queue; the run stays exact."""
    prompt = [chat_prompt(tokenizer, QUESTIONS[0])]
    fmt = get_format("deepseek-r1")
    config = DecodeConfig(max_new_tokens=40, max_answer_tokens=8)
    full = Decoder(tiny_llama, tokenizer, fmt, config, policies=[ThinkingBudget(6)]).generate(prompt)[0]
    engine = SpeculativeForward(tiny_llama, LayerExitConfig(mode="exact", draft_layer=2, max_draft=5, drafter="layer", adaptive=False))
    fast = Decoder(tiny_llama, tokenizer, fmt, config, policies=[ThinkingBudget(6)], step_forward=engine).generate(prompt)[0]
    assert fast.token_ids == full.token_ids


BATCH_QUESTIONS = [q + tail for q in QUESTIONS for tail in ("", " 12 34 12 34 12 34", " 7 7 7 7 and 7 7")]


@pytest.mark.parametrize("adaptive", [False, True])
@pytest.mark.parametrize("drafter", ["layer", "context", "auto"])
@pytest.mark.parametrize("batch", [1, 3])
def test_exact_mode_equals_full_greedy_in_batches(tiny_model, tokenizer, drafter, batch, adaptive):
    """Rows accept different numbers of drafts; every row's text and states are still full greedy decoding."""
    prompts = [chat_prompt(tokenizer, q) for q in BATCH_QUESTIONS[:batch]]
    full = run(tiny_model, tokenizer, prompts)
    config = LayerExitConfig(mode="exact", draft_layer=2, max_draft=4, drafter=drafter, ngram=2, adaptive=adaptive)
    engine = SpeculativeForward(tiny_model, config)
    fast = run(tiny_model, tokenizer, prompts, engine)
    for a, b in zip(full, fast):
        assert b.token_ids == a.token_ids
        for index, by_layer in a.captured.items():
            for layer, state in by_layer.items():
                torch.testing.assert_close(b.captured[index][layer], state, atol=1e-4, rtol=1e-4)
    if not adaptive:  # (adaptive runs may rightly draft nothing on a random model)
        assert engine.stats.drafted > 0, "nothing was drafted: the test would be vacuous"


def test_rows_of_different_lengths_leave_the_batch_cleanly(tiny_llama, tokenizer):
    """Rows finishing at different steps are dropped from the engine's per-row state with the cache's rows."""
    prompts = [chat_prompt(tokenizer, q) for q in BATCH_QUESTIONS[:4]]
    config = DecodeConfig(max_new_tokens=40)
    first = Decoder(tiny_llama, tokenizer, get_format("plain"), config).generate(prompts)
    stop = first[0].token_ids[6]  # a token the random model emits: made an end-of-sequence token, rows end apart

    def decode(**kw):
        decoder = Decoder(tiny_llama, tokenizer, get_format("plain"), config, **kw)
        decoder.eos_ids = {stop}
        return decoder.generate(prompts)

    plain = decode()
    assert len({len(r.token_ids) for r in plain}) > 1, "every row has the same length: no row left the batch early"
    engine = SpeculativeForward(tiny_llama, LayerExitConfig(mode="exact", draft_layer=2, max_draft=4, drafter="auto", adaptive=False))
    assert [r.token_ids for r in decode(step_forward=engine)] == [r.token_ids for r in plain]


def test_a_batch_changed_behind_the_engines_back_is_an_error(tiny_llama, tokenizer):
    from transformers import DynamicCache

    engine = SpeculativeForward(tiny_llama, LayerExitConfig(mode="exact", draft_layer=2))
    cache = DynamicCache(config=tiny_llama.config)
    ids = torch.tensor([[5, 6, 7], [8, 9, 10]])
    mask = torch.ones_like(ids)
    engine(tiny_llama, ids, mask, torch.arange(3).expand(2, 3), cache, ())
    cache.batch_select_indices(torch.tensor([0]))
    with pytest.raises(RuntimeError, match="select_rows"):
        engine(tiny_llama, ids[:1, :1], torch.ones(1, 4, dtype=torch.long), torch.tensor([[3]]), cache, ())


def test_propagate_never_exiting_equals_full(tiny_model, tokenizer):
    prompts = [chat_prompt(tokenizer, q) for q in QUESTIONS]
    engine = PropagateForward(tiny_model, LayerExitConfig(every=1, thresholds=(1.0,)))
    for full, same in zip(run(tiny_model, tokenizer, prompts), run(tiny_model, tokenizer, prompts, engine)):
        assert same.token_ids == full.token_ids
    assert engine.stats.mean_layers_per_token == 4


def test_propagate_always_exiting_uses_the_exit_layer_and_fills_the_cache(tiny_llama, tokenizer):
    prompts = [chat_prompt(tokenizer, q) for q in QUESTIONS]
    engine = PropagateForward(tiny_llama, LayerExitConfig(points=(2,), thresholds=(0.0,)))
    decoder = Decoder(tiny_llama, tokenizer, get_format("plain"), DecodeConfig(max_new_tokens=12), step_forward=engine)
    session = decoder.session(prompts)
    for _ in session.steps():
        assert all(layer.keys.shape[-2] == session.mask.shape[1] for layer in session.cache.layers)
    assert engine.stats.mean_layers_per_token == 2
    assert engine.stats.blocks_propagated == engine.stats.tokens * 2
    assert engine.stats.depth_saved_pct == pytest.approx(50.0)


@pytest.mark.parametrize(
    "bad",
    [dict(every=None, points=()), dict(every=0), dict(thresholds=(1.5,)), dict(mode="fast", every=1), dict(every=1, measure="entropy")],
)
def test_bad_config_is_named(bad):
    with pytest.raises(ValueError):
        LayerExitConfig(**bad)


def test_exit_points_must_fit_the_model():
    with pytest.raises(ValueError, match="exit points"):
        LayerExitConfig(points=(4,)).exit_points(4)
    assert LayerExitConfig(every=3).exit_points(10) == (3, 6, 9)


def test_propagate_rows_do_not_depend_on_their_batch_mates(tiny_llama, tokenizer):
    """A row that exited early rides along with its state frozen, so alone or batched it writes the same tokens."""
    prompts = [chat_prompt(tokenizer, q) for q in (*QUESTIONS, "Ana has 9 pens and loses 2.")]
    lm = LoadedModel("tiny", "tiny", tiny_llama, tokenizer, get_format("plain"))
    table = depth_table(lm, prompts, LayerExitConfig(every=1), DecodeConfig(max_new_tokens=32))
    mixed = 0
    for threshold in np.quantile(table.confidence, [0.3, 0.5, 0.7]):  # a random model's own range: exits are mixed
        config = LayerExitConfig(every=1, thresholds=(threshold,))
        batched_engine = PropagateForward(tiny_llama, config)
        batched = run(tiny_llama, tokenizer, prompts, batched_engine)
        mixed += 1.0 < batched_engine.stats.mean_layers_per_token < 4.0
        for prompt, row in zip(prompts, batched):
            alone = run(tiny_llama, tokenizer, [prompt], PropagateForward(tiny_llama, config))[0]
            assert alone.token_ids == row.token_ids
    assert mixed >= 1


@pytest.mark.parametrize("drafter", ["context", "auto"])
@pytest.mark.parametrize("max_draft", [2, 5])
def test_context_drafts_keep_exact_mode_exact(tiny_model, tokenizer, drafter, max_draft):
    config = LayerExitConfig(mode="exact", draft_layer=2, max_draft=max_draft, drafter=drafter, ngram=2, adaptive=False)
    engine = SpeculativeForward(tiny_model, config)
    for question in QUESTIONS:
        prompt = [chat_prompt(tokenizer, question + " 12 34 12 34 12 34")]  # a context with repeats to draft from
        full = run(tiny_model, tokenizer, prompt)[0]
        fast = run(tiny_model, tokenizer, prompt, engine)[0]
        assert fast.token_ids == full.token_ids
        for index, by_layer in full.captured.items():
            for layer, state in by_layer.items():
                torch.testing.assert_close(fast.captured[index][layer], state, atol=1e-4, rtol=1e-4)
    assert engine.stats.drafted_context > 0, "the context drafter never proposed: the test would be vacuous"
    if drafter == "context":
        assert engine.stats.drafted == engine.stats.drafted_context


def test_context_drafts_survive_a_forced_exit(tiny_llama, tokenizer):
    prompt = [chat_prompt(tokenizer, QUESTIONS[0] + " 7 7 7 7")]
    fmt = get_format("deepseek-r1")
    config = DecodeConfig(max_new_tokens=40, max_answer_tokens=8)
    full = Decoder(tiny_llama, tokenizer, fmt, config, policies=[ThinkingBudget(6)]).generate(prompt)[0]
    engine = SpeculativeForward(tiny_llama, LayerExitConfig(mode="exact", draft_layer=2, max_draft=5, drafter="auto", adaptive=False))
    fast = Decoder(tiny_llama, tokenizer, fmt, config, policies=[ThinkingBudget(6)], step_forward=engine).generate(prompt)[0]
    assert fast.token_ids == full.token_ids


def test_bad_drafter_is_named():
    with pytest.raises(ValueError, match="drafter must be one of"):
        LayerExitConfig(mode="exact", draft_layer=2, drafter="ngram")
    with pytest.raises(ValueError, match="ngram must be"):
        LayerExitConfig(mode="exact", draft_layer=2, drafter="auto", ngram=0)


def test_candidate_draft_layers_are_each_tried_and_the_run_stays_exact(tiny_llama, tokenizer):
    prompts = [chat_prompt(tokenizer, q) for q in BATCH_QUESTIONS[:2]]
    full = run(tiny_llama, tokenizer, prompts)
    policy = DraftPolicy("auto", draft_cost={1: 0.3, 3: 0.6}, warmup=2)  # (a short run: few cycles per arm first)
    config = LayerExitConfig(mode="exact", draft_layers=(1, 3), max_draft=4, drafter="auto")
    engine = SpeculativeForward(tiny_llama, config, policy=policy)
    assert [r.token_ids for r in run(tiny_llama, tokenizer, prompts, engine)] == [r.token_ids for r in full]
    assert engine.policy.runs["layer:1"] >= 2 and engine.policy.runs["layer:3"] >= 2


def test_one_draft_layer_or_candidates_not_both():
    with pytest.raises(ValueError, match="not both"):
        LayerExitConfig(mode="exact", draft_layer=2, draft_layers=(1, 3))
    with pytest.raises(ValueError, match="draft layers must be in"):
        LayerExitConfig(mode="exact", draft_layers=(1, 9)).draft(4)
