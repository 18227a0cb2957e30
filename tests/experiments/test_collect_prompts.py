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


def test_calibrate_answer_change_on_it_and_the_card_says_no_gold_was_read(collected, tmp_path, capsys):
    _, out = collected
    probe = tmp_path / "probe"
    assert main(["calibrate", "--data", str(out), "--mode", "answer-change", "--epsilon", "0.5", "--delta", "0.3",
                 "--out", str(probe)]) == 0
    artifact = ProbeArtifact.load(probe)
    assert artifact.calibration["mode"] == "answer-change" and artifact.calibration["gold_read"] is False
    assert "differs from the answer the same run gives thinking to the end" in artifact.calibration["guarantee"]
    assert verify(probe).ok
    capsys.readouterr()
    assert main(["calibrate", "--data", str(out), "--mode", "accuracy-drop", "--epsilon", "0.5", "--delta", "0.3",
                 "--out", str(tmp_path / "refused")]) == 2
    assert "without gold answers" in capsys.readouterr().err and not (tmp_path / "refused").exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [({"suite": None}, "give --suite .* or --prompts .*not neither"),
     ({"suite": "arith", "prompts": "p.jsonl"}, "not both"),
     ({"suite": None, "prompts": "p.jsonl", "split": "calib"}, "--split and --data-dir name a suite's data")],
)
def test_collect_config_takes_a_suite_or_prompts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CollectConfig(**{"suite": "arith", "model": "toy", **kwargs})
