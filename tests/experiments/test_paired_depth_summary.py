"""paired_summary's depth block: token-weighted and per-problem disagreement, depth and compute saved."""

from __future__ import annotations

import pytest

from cotexit.experiments.paired import paired_summary


def row(pid: str, differing: int, compared: int, depth: dict, answers: tuple = ("18", "18")) -> dict:
    return {
        "correct": True, "thinking_tokens": 10, "total_tokens": compared, "exit": None, "trial_tokens": 0,
        "prediction": answers[1],
        "full": {"prediction": answers[0], "correct": True, "thinking_tokens": 10, "total_tokens": compared,
                 "differing_tokens": differing,
                 "compared_tokens": compared, "same_tokens": differing == 0},
        "timings": {"batch": "b0", "full_batch_s": 2.0, "treated_batch_s": 1.0,
                    "full_batch_flops": 100.0, "treated_batch_flops": 0.0},
        "depth": depth,
    }


def test_disagreement_is_reported_per_token_and_per_problem():
    depth = {"tokens": 110, "exit_layer_sum": 440, "num_layers": 8, "drafted": 0, "accepted": 0, "flops": 60.0}
    rows = [row("a", 0, 100, depth), row("b", 5, 10, depth, answers=("7", "8"))]
    out = paired_summary(rows, {})
    assert out["answer_changed"] == 0.5
    assert out["token_disagreement"] == pytest.approx(5 / 110)
    assert out["token_disagreement_per_problem"] == pytest.approx((0 + 0.5) / 2)
    assert out["mean_layers_per_token"] == pytest.approx(4.0) and out["depth_saved_pct"] == pytest.approx(50.0)
    assert out["compute_saved_pct"] == pytest.approx(40.0) and out["same_text_as_full"] == 0.5
    assert out["wall_speedup"] == pytest.approx(2.0) and out["acceptance_rate"] is None


def test_disagreement_reading_the_full_text_is_averaged_per_problem():
    depth = {"tokens": 110, "exit_layer_sum": 440, "num_layers": 8, "drafted": 0, "accepted": 0, "flops": 60.0}
    rows = [row("a", 0, 100, depth), row("b", 5, 10, depth)]
    rows[0]["full"] |= {"forced_differing": 10, "forced_compared": 100}
    rows[1]["full"] |= {"forced_differing": 0, "forced_compared": 10}
    assert paired_summary(rows, {})["token_disagreement_on_full_text"] == pytest.approx(0.05)
    assert "token_disagreement_on_full_text" not in paired_summary([row("c", 0, 10, depth)], {})
