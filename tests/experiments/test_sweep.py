"""The Pareto sweep's simulation: hand-made cue data, and agreement with a real run's forced exit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cotexit.experiments.sweep import budget_point, consistency_rule, deer_rule, probe_rule, simulate, sweep_points
from cotexit.controller import ThinkingBudget
from cotexit.engines.decoding import DecodeConfig, SamplingConfig
from cotexit.engines.loop import Decoder
from cotexit.controller.trials import ForcedRequest
from cotexit.engines.loop.forced import forced_answers
from cotexit.models import chat_prompt, get_format
from cotexit.probes.cuedata import CueData


def cue(problem, index, start, right, prob, answer):
    return {
        "problem": problem, "index": index, "token_start": start, "thinking_tokens_before": start - 1,
        "forced_correct": right, "forced_mean_prob": prob, "forced_answer": answer, "forced_tokens": 3,
    }


@pytest.fixture
def data():
    problems = [
        {"id": "a", "full_correct": True, "thinking_tokens": 100, "total_tokens": 110,
         "budget_trials": {"50": {"answer": "7", "correct": True, "tokens": 3}}},
        {"id": "b", "full_correct": False, "thinking_tokens": 80, "total_tokens": 90, "budget_trials": {}},
    ]
    cues = [
        cue("a", 0, 21, False, 0.5, "5"), cue("a", 1, 41, True, 0.97, "7"), cue("a", 2, 61, True, 0.99, "7"),
        cue("b", 0, 31, False, 0.99, "4"),
    ]
    return CueData(meta={}, problems=problems, cues=cues, features=torch.zeros(4, 2))


def test_full_run_is_the_no_exit_point(data):
    assert simulate(data, probe_rule(None), forced_exit_tokens=10) == (0.5, 90.0, 100.0, 0.0)


def test_probe_exits_at_the_first_cue_over_threshold(data):
    for c, score in zip(data.cues, [0.1, 0.8, 0.9, 0.2]):
        c["score"] = score
    accuracy, thinking, cost, exits = simulate(data, probe_rule(0.7), forced_exit_tokens=10)
    assert (accuracy, exits) == (0.5, 0.5)  # a exits at cue 1 (right), b never exits (wrong anyway)
    assert thinking == (40 + 80) / 2 and cost == (41 + 10 + 3 + 90) / 2


def test_deer_pays_for_every_trial(data):
    accuracy, _, cost, exits = simulate(data, deer_rule(0.95), forced_exit_tokens=10)
    assert exits == 1.0 and accuracy == 0.5  # a at cue 1 (right), b at cue 0 (wrong)
    assert cost == ((41 + 2 * 13) + (31 + 13)) / 2


def test_consistency_needs_k_equal_answers(data):
    accuracy, _, _, exits = simulate(data, consistency_rule(2), forced_exit_tokens=10)
    assert exits == 0.5 and accuracy == 0.5  # a at cue 2 ("7", "7"); b has one cue only


def test_budget_uses_the_trial_at_the_budget(data):
    assert budget_point(data, 50, forced_exit_tokens=10) == (0.5, (50 + 80) / 2, (50 + 13 + 90) / 2, 0.5)


def test_sweep_points_cover_every_policy(data):
    points = sweep_points(data, np.array([0.1, 0.8, 0.9, 0.2]), 10, {"eps=0.02": 0.7}, budgets=(50,))
    assert [p.policy for p in points] == ["full", "probe"] + ["deer"] * 4 + ["consistency"] * 3 + ["budget"]


def test_a_budget_exit_answers_what_the_trial_at_the_budget_answers(tiny_llama, tokenizer):
    """Why the sweep can simulate: the exit run is the full run's prefix plus a greedy forced answer."""
    fmt = get_format("deepseek-r1")
    config = DecodeConfig(max_new_tokens=30, max_answer_tokens=6, sampling=SamplingConfig(temperature=0.8, seed=5))
    prompts = [chat_prompt(tokenizer, "Tom has 5 apples."), chat_prompt(tokenizer, "What is 3 * 4?")]
    exited = Decoder(tiny_llama, tokenizer, fmt, config, policies=[ThinkingBudget(7)]).generate(prompts, ["a", "b"])
    session = Decoder(tiny_llama, tokenizer, fmt, config).session(prompts, ["a", "b"])
    trials = {}
    for _ in session.steps():
        for r in session.batch:
            row = session.rows[r]
            if r not in trials and row.fed - row.thinking_start_token >= 7:
                trials[r] = forced_answers(session, [ForcedRequest(r, row.thinking_start_token + 7)], max_tokens=6)[0]
    forced = len(Decoder(tiny_llama, tokenizer, fmt, config).forced_exit_ids)
    for r, row in enumerate(exited):
        cut = row.exit.cut
        assert row.token_ids[cut + forced :] == trials[r].token_ids[: len(row.token_ids) - cut - forced]


def test_sweep_budgets_follow_existing_data_and_refuse_others(tmp_path):
    import json

    from cotexit.cli.sweep import DEFAULT_BUDGETS, sweep_budgets

    assert sweep_budgets(None, tmp_path / "none") == DEFAULT_BUDGETS
    assert sweep_budgets("64,32", tmp_path / "none") == (32, 64)
    (tmp_path / "meta.json").write_text(json.dumps({"provenance": {"config": {"budgets": [64, 128]}}}))
    assert sweep_budgets(None, tmp_path) == (64, 128)
    assert sweep_budgets("128,64", tmp_path) == (64, 128)
    with pytest.raises(ValueError, match="--sweep-budgets 64,128"):
        sweep_budgets("32", tmp_path)
