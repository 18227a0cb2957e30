"""`collect --prompts` on the toy model, then `calibrate --mode answer-change`: no gold answer is read anywhere, the
labels are agreement with the full run, the card says so, and the graded modes refuse the data."""

from __future__ import annotations

import json

import pytest

from cotexit.benchmarks.extraction import last_boxed
from cotexit.benchmarks.grading import same_answer
from cotexit.benchmarks.loading import load_problems
from cotexit.benchmarks.prompts import build_prompt
from cotexit.certificates.verify import verify
from cotexit.cli.main import main
from cotexit.experiments.collect import CollectConfig
from cotexit.experiments.runner import BenchConfig
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.cuedata import load_cue_data

N_PROMPTS = 8


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    root = tmp_path_factory.mktemp("prompts")
    path = root / "tiny.jsonl"
    # the user's own messages: arith problems spelt out with the boxed instruction, as a user would write them
    rows = [{"id": f"q{i}", "prompt": build_prompt(p)} for i, p in enumerate(load_problems("arith", "calib", N_PROMPTS))]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = root / "cues"
    assert main(["collect", "--prompts", str(path), "--model", "toy", "--max-new-tokens", "200", "--layers", "4,8",
                 "--batch-size", str(N_PROMPTS), "--out", str(out)]) == 0
    return path, out


def test_collect_reads_no_gold_and_labels_agreement(collected):
    path, out = collected
    data = load_cue_data(out)
    assert data.meta["gold_read"] is False and data.meta["prompts"] == str(path) and data.meta["suite"] is None
    assert data.meta["provenance"]["data"]["file"] == str(path.resolve())
    assert [p["id"] for p in data.problems] == [f"{path}/q{i}" for i in range(N_PROMPTS)]
    assert all(p["gold"] is None and p["full_correct"] is None for p in data.problems)
    predictions = {p["id"]: p["prediction"] for p in data.problems}
    assert len(data.cues) >= N_PROMPTS
    for cue in data.cues:
        assert cue["forced_correct"] is None
        assert cue["forced_answer"] == last_boxed("\\boxed{" + cue["forced_text"])
        assert cue["forced_agrees"] is same_answer(predictions[cue["problem"]], cue["forced_answer"])
    assert {c["forced_agrees"] for c in data.cues} == {True, False}


@pytest.fixture(scope="module")
def probe(collected, tmp_path_factory):
    _, out = collected
    folder = tmp_path_factory.mktemp("probe") / "probe"
    assert main(["calibrate", "--data", str(out), "--mode", "answer-change", "--epsilon", "0.5", "--delta", "0.3",
                 "--out", str(folder)]) == 0
    return folder


def test_calibrate_answer_change_on_it_and_the_card_says_no_gold_was_read(collected, probe, tmp_path, capsys):
    _, out = collected
    artifact = ProbeArtifact.load(probe)
    assert artifact.calibration["mode"] == "answer-change" and artifact.calibration["gold_read"] is False
    assert "differs from the answer the same run gives thinking to the end" in artifact.calibration["guarantee"]
    assert verify(probe).ok
    capsys.readouterr()
    assert main(["calibrate", "--data", str(out), "--mode", "accuracy-drop", "--epsilon", "0.5", "--delta", "0.3",
                 "--out", str(tmp_path / "refused")]) == 2
    assert "without gold answers" in capsys.readouterr().err and not (tmp_path / "refused").exists()


def test_bench_on_the_prompt_file_reports_tokens_saved_and_the_change_rate(collected, probe, tmp_path, capsys):
    path, _ = collected
    out = tmp_path / "bench"
    assert main(["bench", "--prompts", str(path), "--limit", "4", "--model", "toy", "--probe", str(probe),
                 "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["gold_read"] is False and summary["prompts"] == str(path) and summary["accuracy"] is None
    assert "accuracy_full" not in summary and "accuracy_drop_events" not in summary["empirical"]
    event = summary["empirical"]["answer_change_events"]
    assert event["n"] == 4 and event["ci95"][0] <= event["rate"] <= event["ci95"][1]
    assert summary["tokens_saved_pct"] > 0 and summary["guarantee"]["mode"] == "answer-change"
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert all(r["gold"] is None and r["correct"] is None and r["full"]["correct"] is None for r in rows)
    assert sum(not same_answer(r["full"]["prediction"], r["prediction"]) for r in rows) == round(event["rate"] * 4)
    shown = capsys.readouterr().out
    assert "answer changed from the run without exits" in shown and "no gold answer read" in shown


@pytest.mark.parametrize(
    "kwargs, message",
    [({"suite": None}, "give --suite .* or --prompts .*not neither"),
     ({"suite": "arith", "prompts": "p.jsonl"}, "not both"),
     ({"suite": None, "prompts": "p.jsonl", "split": "calib"}, "--split and --data-dir name a suite's data")],
)
def test_collect_and_bench_configs_take_a_suite_or_prompts(kwargs, message):
    for config in (CollectConfig, BenchConfig):
        with pytest.raises(ValueError, match=message):
            config(**{"suite": "arith", "model": "toy", **kwargs})


def test_bench_sweep_needs_gold(tmp_path, capsys):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "2+3?"}\n')
    assert main(["bench", "--prompts", str(path), "--sweep", "--model", "toy", "--out", str(tmp_path / "o")]) == 2
    assert "--sweep compares accuracies, which need gold answers" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
