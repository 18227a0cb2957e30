"""What a new user meets running `bench` and `solve`: folders per settings, decoding from the probe, the guarantee on
screen, each warning once, Ctrl-C at any moment, nothing written before the inputs are checked.

The runs use the shipped toy model on a few `arith` problems with short budgets, in a temporary working
directory (the default output folder is relative: `runs/bench/...`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cotexit.cli import interrupt
from cotexit.cli.guarantee_view import fmt_level, fmt_threshold, guarantee_rows, verdict
from cotexit.cli.main import main
from cotexit.cli.outdir import default_out

SHORT = ["--limit", "2", "--batch-size", "2"]  # the probe's own budget (1024): a shorter one is not covered


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_dirs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "runs" / "bench").iterdir() if p.is_dir())


# --- output folders --------------------------------------------------------------------------------------------


def test_default_out_differs_with_settings_and_not_with_the_limit():
    base = dict(exits=None, temperature=0.0)
    a = default_out("bench", "arith", "toy", {"decode": {"max_new_tokens": 8}}, **base)
    assert a == default_out("bench", "arith", "toy", {"decode": {"max_new_tokens": 8}}, **base)
    assert a != default_out("bench", "arith", "toy", {"decode": {"max_new_tokens": 9}}, **base)
    assert a.startswith("runs/bench/arith-toy-greedy-")
    named = default_out("bench", "/data/my problems.jsonl", "/models/r1", {}, exits="exit", temperature=0.6, backend="vllm")
    assert named.startswith("runs/bench/my-problems.jsonl-r1-exit-vllm-t0.6-"), named


def test_a_second_command_gets_its_own_folder_and_the_same_command_resumes(in_tmp, capsys):
    assert main(["bench", "--suite", "arith", *SHORT]) == 0
    assert main(["bench", "--suite", "arith", *SHORT, "--exit"]) == 0  # was: refused, "runs/bench holds results ..."
    names = [p.name for p in run_dirs(in_tmp)]
    assert len(names) == 2 and sum("-exit-" in n for n in names) == 1, names
    capsys.readouterr()
    assert main(["bench", "--suite", "arith", *SHORT, "--exit"]) == 0
    out = capsys.readouterr().out
    assert "resuming: 2 problem(s) already in" in " ".join(out.split())
    assert len(run_dirs(in_tmp)) == 2


# --- decoding from the probe, the guarantee on screen, warnings once -------------------------------------------


def test_exit_run_takes_the_probes_decoding_and_shows_a_covered_guarantee(in_tmp, capsys):
    assert main(["bench", "--suite", "arith", *SHORT, "--exit"]) == 0
    captured = capsys.readouterr()
    text = " ".join((captured.out + captured.err).split())
    (folder,) = run_dirs(in_tmp)
    settings = json.loads((folder / "run.json").read_text())
    card = json.loads((Path(__file__).resolve().parents[2] / "probes/toy-arith-settings/card.json").read_text())
    certified = [s["decode"]["sampling"]["temperature"] for s in card["corpus"]["settings"]]
    assert certified == [0.0, 0.6, 1.0]
    assert settings["decode"]["sampling"]["temperature"] == 0.0  # the default, since greedy is certified
    assert "running as the probe was calibrated: " in text and "--dtype float32" in text
    assert "guarantee: accuracy drop against thinking to the end <= 2%" in text
    assert "realized: harm" in text and "95% interval" in text
    assert "covers this run: yes" in text
    assert "warning" not in text
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["split"] == "test" and summary["guarantee"]["covers_run"] is True


def test_uncovered_run_is_warned_once_and_says_so_in_the_summary(in_tmp, capsys):
    assert main(["bench", "--suite", "arith", *SHORT, "--exit", "--temperature", "0.3"]) == 0
    captured = capsys.readouterr()
    text = " ".join((captured.out + captured.err).split())
    assert text.count("does not cover this run") == 1, text
    assert "covers this run: NO: this run (temperature 0.3, " in text
    assert "is none of the 3 settings the probe was certified over" in text


def test_another_dtype_than_the_probes_is_run_warned_and_recorded(in_tmp, capsys):
    assert main(["bench", "--suite", "arith", *SHORT, "--exit", "--dtype", "bfloat16"]) == 0
    captured = capsys.readouterr()
    text = " ".join((captured.out + captured.err).split())
    assert text.count("does not cover this run") == 1, text
    (folder,) = run_dirs(in_tmp)
    guarantee = json.loads((folder / "summary.json").read_text())["guarantee"]
    assert guarantee["covers_run"] is False and "it computes in bfloat16" in guarantee["coverage"]


def test_baseline_savings_count_the_trials(in_tmp, capsys):
    assert main(["bench", "--suite", "arith", *SHORT, "--baseline", "deer:0.5"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    (folder,) = run_dirs(in_tmp)
    summary = json.loads((folder / "summary.json").read_text())
    if summary["mean_trial_tokens_exit"] > 0:
        assert "thinking tokens saved, trials counted" in text
    assert "guarantee: baseline deer:0.5: no statistical guarantee" in text
    rows = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    for row in rows:  # a cue the exit cut away still counts as met
        if row["exit"] is not None and row["exit"]["cue_index"] is not None:
            assert row["cue_count"] >= row["exit"]["cue_index"] + 1


def test_guarantee_rows_state_bound_realized_and_coverage():
    summary = {
        "guarantee": {"mode": "accuracy-drop", "epsilon": 0.02, "delta": 0.1, "n_problems": 1000,
                      "threshold": 0.99999988, "covers_run": False, "coverage": "other cues"},
        "empirical": {"accuracy_drop_events": {"rate": 0.067, "ci95": [0.044, 0.101], "n": 300}},
    }  # fmt: skip
    rows = dict(guarantee_rows(summary))
    assert rows["guarantee"].startswith("accuracy drop against thinking to the end <= 2%, with probability >= 90%")
    assert "threshold 0.99999988 (1 - 1.2e-07)" in rows["guarantee"]
    assert "6.7% of 300 problems, 95% interval [4.4%, 10.1%]: ABOVE the bound of 2%" in rows["realized"]
    assert rows["covers this run"] == "NO: other cues"
    assert verdict(0.012, (0.007, 0.021), 0.02) == "within the bound of 2%"
    assert verdict(0.03, (0.01, 0.05), 0.02).startswith("above the bound of 2%, though")
    assert fmt_threshold(0.6277530193) == "0.6278" and fmt_level(0.025) == "2.5%"


def test_exact_layer_exit_explains_negative_savings():
    from cotexit.cli.bench import DRAFT_COST_NOTE, summary_table
    from rich.console import Console

    summary = {
        "suite": "arith", "model": "toy", "n": 1, "accuracy": 1.0, "mean_thinking_tokens": 1.0, "mean_total_tokens": 1.0,
        "mean_cues": 0.0, "wall_s": 1.0, "tokens_per_s": 1.0, "accuracy_full": 1.0, "accuracy_exit": 1.0,
        "mean_thinking_tokens_full": 1.0, "mean_thinking_tokens_exit": 1.0, "tokens_saved_pct": 0.0, "exit_rate": 0.0,
        "compute_saved_pct": -10.8, "mean_layers_per_token": 9.0, "depth_saved_pct": -11.4, "token_disagreement": 0.0,
        "token_disagreement_per_problem": 0.0, "same_text_as_full": 1.0, "answer_changed": 0.0, "acceptance_rate": 0.8,
    }  # fmt: skip
    console = Console(width=400, record=True)
    console.print(summary_table(summary))
    assert DRAFT_COST_NOTE[:40] in console.export_text()
    summary["acceptance_rate"] = None  # propagate mode: no drafts, no note
    console = Console(width=400, record=True)
    console.print(summary_table(summary))
    assert DRAFT_COST_NOTE[:40] not in console.export_text()


# --- nothing written before the inputs are checked -------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [["--probe", "no/such/probe"], ["--model", "no/such/model/folder"], ["--model", "smollm2-135m", "--exit"]],
    ids=["missing-probe", "unknown-model", "no-shipped-probe"],
)
def test_failed_run_leaves_no_files(in_tmp, capsys, extra):
    code = main(["bench", "--suite", "arith", *SHORT, "--out", "o", *extra])
    assert code == 2, capsys.readouterr().err
    assert not (in_tmp / "o").exists() and not (in_tmp / "runs").exists()


# --- Ctrl-C -------------------------------------------------------------------------------------------------------


def test_interrupt_mid_run_says_what_was_kept_and_the_same_command_resumes(in_tmp, capsys, monkeypatch):
    from cotexit.cli import bench

    real = bench.run_prepared

    def interrupted_after_first(*args, **kwargs):
        events = real(*args, **kwargs)
        for event in events:
            yield event
            if event.result is not None:
                raise KeyboardInterrupt

    monkeypatch.setattr(bench, "run_prepared", interrupted_after_first)
    argv = ["bench", "--suite", "arith", *SHORT, "--batch-size", "1"]
    assert main(argv) == 130
    err = " ".join(capsys.readouterr().err.split())
    assert "interrupted: 1 finished result(s) are kept in runs/bench/" in err
    assert "run the same command again to resume" in err and "Traceback" not in err
    monkeypatch.setattr(bench, "run_prepared", real)
    assert main(argv) == 0
    assert "resuming: 1 problem(s)" in " ".join(capsys.readouterr().out.split())


def test_an_interrupt_lost_inside_a_callback_is_raised_again():
    """Python drops a KeyboardInterrupt raised inside `__del__` ("Exception ignored in ..."); `check` raises it."""
    previous = signal.getsignal(signal.SIGINT)
    try:
        interrupt.install()
        interrupt.check()  # nothing pressed yet
        try:
            interrupt._handler(signal.SIGINT, None)
        except KeyboardInterrupt:
            pass  # what the interpreter does to an exception raised in a __del__
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()

        class RaisesInDel:
            def __del__(self):
                interrupt._handler(signal.SIGINT, None)

        printed = io.StringIO()
        with contextlib.redirect_stderr(printed):
            RaisesInDel()  # the interpreter swallows this one: no "Exception ignored ... Traceback" on screen
        assert "Traceback" not in printed.getvalue() and interrupt.pressed()
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = sys.__unraisablehook__
        interrupt._pressed = False


def _cotexit(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "cotexit.cli.entry", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("after_s", [0.5, 2.0, 3.5])
def test_ctrl_c_while_starting_is_one_line(tmp_path, after_s):
    """Ctrl-C while importing, loading or in the first batch: no traceback, exit 130, one line."""
    proc = _cotexit(["bench", "--suite", "arith", "--limit", "2"], tmp_path)
    time.sleep(after_s)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err, err
    assert not (tmp_path / "runs").exists() or "kept" in err


def test_sweep_shows_the_same_guarantee_facts(in_tmp, capsys):
    assert main(["bench", "--suite", "arith", "--limit", "2", "--sweep", "--exit"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "guarantee: accuracy drop against thinking to the end <= 2%" in text
    assert "realized: harm (right thinking to the end, wrong with the exit):" in text and "of 2 problems" in text
    assert "covers this run: yes" in text and "warning" not in text
    (folder,) = run_dirs(in_tmp)
    assert "-sweep-" in folder.name and (folder / "pareto.png").is_file()
