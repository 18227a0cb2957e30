"""The live check of a run's bound (`cotexit.experiments.live_check`): which loss each paired row is audited on,
when it applies, what summary.json and the terminal say, and a toy `bench --exit` run that carries it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cotexit.calibration.monitor import METHOD, BoundMonitor
from cotexit.cli import bench as bench_cli
from cotexit.cli.guarantee_view import guarantee_rows
from cotexit.cli.main import main
from cotexit.experiments.live_check import LiveCheck, audit_loss, live_check
from cotexit.experiments.paired import paired_summary

ACCURACY_DROP = {"mode": "accuracy-drop", "epsilon": 0.05, "delta": 0.1}


def row(full: str | None, exited: str | None, *, gold: str | None = "1", i: int = 0) -> dict:
    graded = gold is not None
    return {
        "id": f"p{i}", "correct": (exited == gold) if graded else None, "prediction": exited, "thinking_tokens": 40,
        "total_tokens": 50, "exit": {"cue": 0}, "trial_tokens": 0,
        "full": {"prediction": full, "correct": (full == gold) if graded else None, "thinking_tokens": 100,
                 "total_tokens": 110},
        "timings": {"batch": "b0", "full_batch_s": 2.0, "treated_batch_s": 1.0, "full_batch_flops": 100.0,
                    "treated_batch_flops": 50.0},
    }


def test_harm_needs_a_right_full_run_and_a_wrong_exit():
    assert audit_loss(row("1", "2"), "harm")  # right to the end, wrong with the exit
    assert not audit_loss(row("3", "2"), "harm")  # wrong both ways: the answer changed, accuracy did not drop
    assert audit_loss(row("3", "2"), "answer-change")
    assert not audit_loss(row("18", "$18$", gold=None), "answer-change")  # one canonical form
    assert audit_loss(row("18", None, gold=None), "harm")  # no gold: its answer change is what is audited
    with pytest.raises(ValueError, match="loss"):
        audit_loss(row("1", "1"), "accuracy")


@pytest.mark.parametrize(
    "guarantee, rows, loss",
    [
        (ACCURACY_DROP, [row("1", "1")], "harm"),
        (ACCURACY_DROP, [row("1", "1", gold=None)], "answer-change"),  # a prompt file: no gold answers
        ({"mode": "joint", "epsilon": 0.02, "delta": 0.1}, [row("1", "1")], "harm"),
        ({"mode": "joint", "loss": "answer-change", "epsilon": 0.02, "delta": 0.1}, [row("1", "1")], "answer-change"),
        ({"mode": "answer-change", "epsilon": 0.1, "delta": 0.05}, [row("1", "1")], "answer-change"),
    ],
)
def test_the_loss_follows_the_guarantee_and_the_gold(guarantee, rows, loss):
    out = live_check(rows, guarantee)
    assert out["loss"] == loss and out["epsilon"] == guarantee["epsilon"] and out["delta"] == guarantee["delta"]
    assert out["method"] == METHOD and out["n"] == 1


@pytest.mark.parametrize(
    "guarantee",
    [None, {}, {"mode": "none"}, {"mode": "stop-precision", "alpha": 0.1, "delta": 0.1}, {"mode": "cue", "alpha": 0.1}],
)
def test_no_live_check_without_an_epsilon_bound(guarantee):
    assert LiveCheck.for_guarantee(guarantee) is None
    assert live_check([row("1", "2")], guarantee) is None


def test_it_rejects_where_the_monitor_does_and_names_the_problem():
    rows = [row("1", "1", i=i) for i in range(30)] + [row("1", "2", i=30 + i) for i in range(10)]
    monitor = BoundMonitor(epsilon=0.05, delta=0.1)
    for r in rows:
        monitor.update(audit_loss(r, "harm"))
    out = live_check(rows, ACCURACY_DROP)
    assert out["rejected"] and out["rejected_at"] == monitor.rejected_at
    assert out["rejected_id"] == rows[monitor.rejected_at - 1]["id"]
    assert out["message"].startswith(f"REJECTED at problem {monitor.rejected_at} ({out['rejected_id']}): the harm rate")
    assert BoundMonitor.from_json(json.loads(json.dumps(out))) == monitor  # summary.json's block resumes the test


def test_the_progress_loop_and_the_summary_agree():
    rows = [row("1", "2" if i >= 15 and i % 3 == 0 else "1", i=i) for i in range(40)]
    live = LiveCheck.for_guarantee(ACCURACY_DROP, done=rows[:15])  # a resumed run: 15 rows already written
    fired = [i for i, r in enumerate(rows[15:], start=15) if live.add(r)]
    assert live.to_json() == live_check(rows, ACCURACY_DROP)
    assert live.monitor.rejected_at > 15 and fired == [live.monitor.rejected_at - 1]  # said once, when it rejects


def test_summary_and_terminal_say_it():
    rows = [row("1", "1", i=i) for i in range(25)]
    summary = paired_summary(rows, ACCURACY_DROP)
    assert summary["live_check"]["n"] == 25 and not summary["live_check"]["rejected"]
    shown = dict(guarantee_rows(summary))
    assert shown["live check"].startswith("bound holds so far (harm: e-value ") and "< 1/delta = 10, n=25)" in shown["live check"]
    bad = paired_summary(rows[:5] + [row("1", "2", i=99)] * 6, ACCURACY_DROP)
    assert dict(guarantee_rows(bad))["live check"].startswith("REJECTED at problem ")
    assert "live_check" not in paired_summary(rows, {"mode": "stop-precision", "alpha": 0.1, "delta": 0.1})


# --- a toy bench run ----------------------------------------------------------------------------------------------


def test_bench_exit_summary_carries_the_live_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.chdir(tmp_path)
    fired = []

    class Loud(LiveCheck):  # rejects on the first row, to see the warning the moment it happens
        def add(self, row):
            super().add(row)
            fired.append(row["id"])
            return len(fired) == 1

    monkeypatch.setattr(bench_cli, "LiveCheck", Loud)
    assert main(["bench", "--suite", "arith", "--limit", "2", "--batch-size", "2", "--exit"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    (summary_path,) = (tmp_path / "runs" / "bench").glob("*/summary.json")
    live = json.loads(summary_path.read_text())["live_check"]
    card = json.loads((Path(__file__).resolve().parents[2] / "probes/toy-arith/card.json").read_text())["calibration"]
    assert (live["epsilon"], live["delta"], live["n"], live["loss"]) == (card["epsilon"], card["delta"], 2, "harm")
    assert live["method"] == METHOD and set(live) >= {"rejected", "rejected_at", "e_value", "rate", "lower", "upper"}
    assert len(fired) == 2 and text.count("warning: live check:") == 1
    assert f"live check: {live['message']}" in text
