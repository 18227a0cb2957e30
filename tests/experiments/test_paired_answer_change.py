"""The answer-change events bench reports (what the answer-change mode bounds): paired_summary's, with and without
gold answers, how bench shows them against an answer-change guarantee, and the sweep's count at a probe's exits."""

from __future__ import annotations

import pytest
import torch

from cotexit.cli.bench import summary_table
from cotexit.cli.guarantee_view import guarantee_rows
from cotexit.experiments.paired import paired_summary, wilson
from cotexit.experiments.sweep import exit_changes, probe_rule
from cotexit.probes.cuedata import CueData


def row(full: str | None, exited: str | None, *, gold: str | None = None, stopped: bool = True) -> dict:
    graded = gold is not None
    return {
        "correct": (exited == gold) if graded else None, "prediction": exited, "thinking_tokens": 40 if stopped else 100,
        "total_tokens": 50 if stopped else 110, "exit": {"cue": 0} if stopped else None, "trial_tokens": 0,
        "full": {"prediction": full, "correct": (full == gold) if graded else None, "thinking_tokens": 100,
                 "total_tokens": 110},
        "timings": {"batch": "b0", "full_batch_s": 2.0, "treated_batch_s": 1.0, "full_batch_flops": 100.0,
                    "treated_batch_flops": 50.0},
    }


def test_without_gold_the_summary_has_the_change_rate_and_no_accuracy():
    rows = [row("18", "$18$"), row("7", "8"), row("5", None), row("3", "3", stopped=False)]
    out = paired_summary(rows, {"mode": "answer-change", "epsilon": 0.1, "delta": 0.1})
    event = out["empirical"]["answer_change_events"]
    assert event == {"rate": 0.5, "ci95": wilson(2, 4), "n": 4}  # "$18$" is "18"; "8" and a missing answer change
    assert out["answer_change_rate"] == 0.5 and out["tokens_saved_pct"] == pytest.approx(100 * (1 - 220 / 400))
    assert not {"accuracy_full", "accuracy_exit", "accuracy_drop"} & set(out)
    assert set(out["empirical"]) == {"answer_change_events"}


def test_with_gold_both_the_accuracy_and_the_change_are_reported():
    rows = [row("18", "18", gold="18"), row("7", "8", gold="8"), row("5", "6", gold="1")]
    out = paired_summary(rows, {})
    assert out["accuracy_full"] == pytest.approx(1 / 3) and out["accuracy_exit"] == pytest.approx(2 / 3)
    assert out["empirical"]["answer_change_events"]["rate"] == pytest.approx(2 / 3)
    assert out["empirical"]["accuracy_drop_events"]["rate"] == 0.0  # changes that cost no accuracy


def test_bench_shows_the_realized_change_against_an_answer_change_guarantee():
    rows = [row("18", "18"), row("7", "8")] + [row("1", "1")] * 18
    summary = {"suite": None, "prompts": "mine.jsonl", "model": "toy", "n": 20, "accuracy": None,
               "mean_thinking_tokens": 40.0, "mean_total_tokens": 50.0, "mean_cues": 1.0, "wall_s": 1.0,
               "tokens_per_s": 10.0}
    summary |= paired_summary(rows, {"mode": "answer-change", "epsilon": 0.1, "delta": 0.1, "threshold": 0.9})
    shown = dict(guarantee_rows(summary))
    assert shown["guarantee"].startswith("P(the exit changes the answer of the run thought to the end) <= 10%")
    assert shown["realized"].startswith("answer changed from the run without exits: 5% of 20 problems")
    assert "within the bound of 10%" in shown["realized"]
    cells = [str(c) for col in summary_table(summary).columns for c in col._cells]
    assert "- (no gold answer read)" in cells and "5.0% of 20 [95%: 0.9%, 23.6%]" in cells
    joint = {**summary, "guarantee": {"mode": "joint", "loss": "answer-change", "epsilon": 0.1, "delta": 0.1}}
    assert dict(guarantee_rows(joint))["guarantee"].startswith("P(the exits change the answer of the run with neither)")


def test_the_sweep_counts_exits_whose_forced_answer_is_not_the_full_runs():
    problems = [{"id": "a", "prediction": "7"}, {"id": "b", "prediction": "4"}, {"id": "c", "prediction": None}]
    cues = [
        {"problem": "a", "index": 0, "forced_answer": "5", "score": 0.2},
        {"problem": "a", "index": 1, "forced_answer": "$7$", "score": 0.9},  # agrees: one canonical form
        {"problem": "b", "index": 0, "forced_answer": "3", "score": 0.95},  # changes
        {"problem": "c", "index": 0, "forced_answer": "3", "score": 0.99},  # the full run had no answer: a change
    ]
    data = CueData(meta={}, problems=problems, cues=cues, features=torch.zeros(4, 2))
    assert exit_changes(data, probe_rule(0.5)) == 2
    assert exit_changes(data, probe_rule(0.1)) == 3  # "a" exits at its first cue, whose answer was 5
    assert exit_changes(data, probe_rule(None)) == 0
