"""On-policy depth calibration: the engine runs at each tested threshold; Learn-then-Test keeps its promise."""

from __future__ import annotations

import numpy as np
import pytest

from cotexit.depth.config import LayerExitConfig
from cotexit.depth.onpolicy import answer_losses, calibrate_depth_on_policy, check_grid, fixed_sequence_ltt
from cotexit.controller import RowResult
from cotexit.engines.decoding import DecodeConfig, SamplingConfig
from cotexit.models import chat_prompt
from cotexit.models.loading import LoadedModel
from cotexit.models.thinking import get_format

QUESTIONS = ("Tom has 5 apples.", "What is 3 * 4?", "12 + 7", "Ana has 9 pens.", "2 * 8 - 1", "Sam finds 4 coins.")


@pytest.mark.parametrize("grid", [(), (0.9, 0.95), (0.9, 0.9), (1.5,)])
def test_bad_grids_are_named(grid):
    with pytest.raises(ValueError, match="grid"):
        check_grid(grid)


def test_never_exiting_is_certified_and_exiting_everywhere_is_not(tiny_llama, tokenizer):
    lm = LoadedModel("tiny", "tiny", tiny_llama, tokenizer, get_format("plain"))
    prompts = [chat_prompt(tokenizer, q) for q in QUESTIONS]
    base = LayerExitConfig(every=1)
    cal = calibrate_depth_on_policy(lm, prompts, base, epsilon_tok=0.5, delta=0.1, decode=DecodeConfig(max_new_tokens=8),
                                    batch_size=4, grid=(1.0, 0.0))
    # threshold 1.0 never exits: the engine writes exactly the full model's tokens
    assert cal.risks[0] == 0.0 and cal.mean_layers[0] == 4.0
    # threshold 0.0 exits every fed token at layer 1 of a random model: far from the full model
    assert cal.mean_layers[1] < 2.0 and cal.risks[1] > 0.3  # only the first token (from the prompt pass) runs deep
    assert cal.threshold == 1.0 and cal.method == "engine" and cal.candidates == (1.0, 0.0)


def test_refuses_sampling_and_too_few_problems(tiny_llama, tokenizer):
    lm = LoadedModel("tiny", "tiny", tiny_llama, tokenizer, get_format("plain"))
    prompts = [chat_prompt(tokenizer, q) for q in QUESTIONS]
    with pytest.raises(ValueError, match="greedy"):
        calibrate_depth_on_policy(lm, prompts, LayerExitConfig(every=1), 0.5, decode=DecodeConfig(sampling=SamplingConfig(temperature=0.6)))
    with pytest.raises(ValueError, match="at least"):
        calibrate_depth_on_policy(lm, prompts, LayerExitConfig(every=1), 0.05)


def test_stops_at_the_first_failure_without_evaluating_the_rest():
    seen = []

    def evaluate(lam):
        seen.append(lam)
        return np.full(400, 1.0 - lam), 2.0

    threshold, risks, _, _ = fixed_sequence_ltt((0.99, 0.95, 0.5, 0.1), evaluate, epsilon=0.1, delta=0.1)
    assert threshold == 0.95 and seen == [0.99, 0.95, 0.5] and len(risks) == 3


GRID = tuple(np.linspace(1.0, 0.0, 401))
EPSILON, DELTA = 0.1, 0.1


def population_losses(rng, n, lam):
    """Per-problem disagreement rates whose mean is 0.25 * (1 - lam) ** 0.5 * 2, heavy-tailed across problems."""
    base = rng.beta(0.5, 1.5, size=n)  # mean 0.25; one draw per problem, shared across thresholds
    return np.clip(base * 2 * (1 - lam) ** 0.5, 0, 1)


def true_risk(lam, draws=400_000):
    return population_losses(np.random.default_rng(123), draws, lam).mean()


def test_ltt_violation_rate_within_delta_over_repeated_draws_and_naive_choice_violates():
    """200 calibration draws of 150 problems: P(true risk at the chosen threshold > epsilon) <= delta + slack."""
    risk = {lam: true_risk(lam) for lam in GRID}
    trials, n = 200, 150
    ltt_violations = naive_violations = 0
    for t in range(trials):
        seed = np.random.default_rng(1000 + t).integers(1 << 31)

        def evaluate(lam):
            return population_losses(np.random.default_rng(seed), n, lam), 0.0

        chosen, _, _, _ = fixed_sequence_ltt(GRID, evaluate, EPSILON, DELTA)
        ltt_violations += chosen is not None and risk[chosen] > EPSILON
        empirical = [lam for lam in GRID if evaluate(lam)[0].mean() <= EPSILON]
        naive_violations += bool(empirical) and risk[min(empirical)] > EPSILON
    slack = 3 * np.sqrt(DELTA * (1 - DELTA) / trials)
    assert ltt_violations / trials <= DELTA + slack
    assert naive_violations / trials > DELTA + slack


def test_forced_disagreement_is_zero_without_exits_and_independent_of_batching(tiny_llama, tokenizer):
    from cotexit.depth.forced import forced_disagreement
    from cotexit.depth.propagate import PropagateForward
    from cotexit.engines.loop import Decoder

    prompts = [chat_prompt(tokenizer, q) for q in QUESTIONS[:4]]
    full = Decoder(tiny_llama, tokenizer, get_format("plain"), DecodeConfig(max_new_tokens=10)).generate(prompts)
    ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    refs = [r.token_ids for r in full]
    pad = tokenizer.pad_token_id
    never = forced_disagreement(tiny_llama, PropagateForward(tiny_llama, LayerExitConfig(every=1, thresholds=(1.0,))), ids, refs, pad)
    assert never.differing == [0, 0, 0, 0] and never.compared == [len(r) for r in refs]
    assert never.layer_sum == [4 * len(r) for r in refs]
    early = LayerExitConfig(every=1, thresholds=(0.0,))
    batched = forced_disagreement(tiny_llama, PropagateForward(tiny_llama, early), ids, refs, pad)
    assert sum(batched.differing) > 0 and batched.layer_sum[0] == 4 + (len(refs[0]) - 1) * 1
    for i in range(4):
        alone = forced_disagreement(tiny_llama, PropagateForward(tiny_llama, early), ids[i : i + 1], refs[i : i + 1], pad)
        assert alone.differing[0] == batched.differing[i]


def _row(answer_text: str) -> RowResult:
    text = "<think>\nsome thinking\n</think>\n" + answer_text
    return RowResult(
        key="k", text=text, token_ids=[1, 2], prompt_tokens=1, thinking_tokens=1, finish_reason="eos", cues=[],
        exit=None, thinking_text="some thinking", answer_text=answer_text,
    )


def test_answer_losses_count_changed_final_answers():
    full = [_row("The answer is \\boxed{18}."), _row("\\boxed{7}"), _row("no answer here"), _row("\\boxed{1/2}")]
    treated = [_row("So \\boxed{ 18 }"), _row("\\boxed{8}"), _row("still none"), _row("\\boxed{0.5}")]
    # same value spelled alike: 0; another value: 1; no answer either way: 0; one value spelled two ways: 1 (safe side)
    assert answer_losses(full, treated).tolist() == [0.0, 1.0, 0.0, 1.0]


@pytest.mark.parametrize(("method", "bounded"), [("free-run", "greedy tokens differ"), ("answer", "final answer")])
def test_method_is_recorded_and_the_guarantee_says_what_it_bounds(tiny_llama, tokenizer, method, bounded):
    lm = LoadedModel("tiny", "tiny", tiny_llama, tokenizer, get_format("plain"))
    prompts = [chat_prompt(tokenizer, q) for q in QUESTIONS]
    cal = calibrate_depth_on_policy(lm, prompts, LayerExitConfig(every=1), epsilon_tok=0.5, delta=0.1,
                                    decode=DecodeConfig(max_new_tokens=8), batch_size=4, grid=(1.0,), method=method)
    assert cal.method == method and cal.risks == (0.0,) and cal.threshold == 1.0
    assert bounded in cal.guarantee


def test_unknown_method_is_named(tiny_llama, tokenizer):
    lm = LoadedModel("tiny", "tiny", tiny_llama, tokenizer, get_format("plain"))
    with pytest.raises(ValueError, match="unknown on-policy method"):
        calibrate_depth_on_policy(lm, ["x"], LayerExitConfig(every=1), epsilon_tok=0.5, method="answers")
