"""Labels by mode (`cotexit.probes.outcomes`): answer-change fits and calibrates on agreement with the full run, on
data with or without gold answers; the graded modes refuse data collected without them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cotexit.calibration import split_by_problem
from cotexit.certificates.verify import verify
from cotexit.controller.semantics import EXIT_SEMANTICS
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.cuedata import CueDataWriter, load_cue_data
from cotexit.probes.fit import fit_probe_artifact
from cotexit.probes.outcomes import cue_labels, full_outcomes

N = 120


def write(folder: Path, *, gold: bool, record_agrees: bool = True) -> Path:
    """N problems of three cues. The full run answers "7"; cue j's forced answer is "7" (spelt "$7$" at the middle
    cue) from a latent point on, else "3". With gold, the gold answer is "3" on every fourth problem, so right and
    agreeing differ there. Feature 0 carries agreement."""
    rng = np.random.default_rng(0)
    meta = {
        "fingerprint": {"model": "tiny", "num_layers": 4, "hidden_size": 8}, "features": {"layers": [2, 4], "hidden_size": 8},
        "thinking_format": {"name": "toy"}, "exit_semantics": EXIT_SEMANTICS.to_json(), "cues": {"phrases": ["Wait"]},
        "decode": {"temperature": 0.0}, "suite": "arith" if gold else None, "split": "calib" if gold else None,
        "prompts": None if gold else "mine.jsonl", "gold_read": gold,
    }
    writer = CueDataWriter(folder, meta, match_keys=("fingerprint",))
    problems, cues, features = [], [], []
    for i in range(N):
        gold_answer = ("3" if i % 4 == 0 else "7") if gold else None
        known = int(rng.integers(0, 4))
        for j in range(3):
            agrees = j >= known
            forced = ("$7$" if j == 1 else "7") if agrees else "3"
            cue = {
                "problem": f"p{i}", "index": j, "phrase": "Wait", "token_start": 10 * (j + 1),
                "token_end": 10 * (j + 1) + 1, "thinking_tokens_before": 10 * (j + 1), "forced_tokens": 3,
                "forced_answer": forced, "forced_correct": None if gold_answer is None else forced.strip("$") == gold_answer,
            }
            if record_agrees:
                cue["forced_agrees"] = agrees
            cues.append(cue)
            x = rng.normal(size=16).astype(np.float32)
            x[0] = 3.0 if agrees else -3.0
            features.append(torch.from_numpy(x))
        problems.append({
            "id": f"p{i}", "gold": gold_answer, "prediction": "7", "full_correct": None if gold_answer is None else gold_answer == "7",
            "thinking_tokens": 40, "total_tokens": 45,
        })
    writer.append(problems, cues, torch.stack(features))
    return folder


def test_labels_by_mode(tmp_path):
    data = load_cue_data(write(tmp_path / "gold", gold=True))
    agrees = np.array([c["forced_agrees"] for c in data.cues])
    right = np.array([c["forced_correct"] for c in data.cues])
    assert (agrees != right).any()  # problems whose gold is "3": agreeing with the full run is not being right
    assert (cue_labels(data, "answer-change") == agrees).all() and (cue_labels(data, "accuracy-drop") == right).all()
    assert full_outcomes(data, "answer-change").all()
    assert (full_outcomes(data, "stop-precision") == [p["full_correct"] for p in data.problems]).all()


def test_older_data_recompute_agreement_from_the_answers_they_kept(tmp_path):
    recorded = load_cue_data(write(tmp_path / "new", gold=True))
    older = load_cue_data(write(tmp_path / "old", gold=True, record_agrees=False))
    assert (cue_labels(older, "answer-change") == cue_labels(recorded, "answer-change")).all()
    for cue in older.cues:
        del cue["forced_answer"]
    with pytest.raises(ValueError, match="records neither forced_agrees nor the answers"):
        cue_labels(older, "answer-change")


def test_answer_change_fits_without_gold_and_the_card_says_none_was_read(tmp_path):
    data = load_cue_data(write(tmp_path / "cues", gold=False))
    fit = fit_probe_artifact(data, "answer-change", epsilon=0.1, delta=0.1)
    assert fit.calibration.mode == "answer-change" and fit.calibration.threshold is not None
    assert fit.artifact.evidence["full_correct"].all()
    split = fit.artifact.metrics["calibration_split"]
    assert "answer_change_rate" in split and "accuracy_full" not in split and "harm_rate" not in split
    folder = fit.artifact.save(tmp_path / "probe")
    card = ProbeArtifact.load(folder)
    assert card.calibration["gold_read"] is False and card.calibration["mode"] == "answer-change"
    assert card.corpus["prompts"] == "mine.jsonl" and card.corpus["suite"] is None
    assert verify(folder).ok


def test_answer_change_on_graded_data_uses_agreement_not_gold(tmp_path):
    data = load_cue_data(write(tmp_path / "cues", gold=True))
    fit = fit_probe_artifact(data, "answer-change", epsilon=0.1, delta=0.1)
    assert fit.artifact.calibration["gold_read"] is True
    _, calib = split_by_problem(len(data.problems), 0.5, 0)  # the split fit_probe_artifact makes
    groups = data.cues_by_problem()
    cues = [j for i in calib for j in groups[i]]
    agrees, right = cue_labels(data, "answer-change")[cues], cue_labels(data, "accuracy-drop")[cues]
    assert (agrees != right).any()
    assert (fit.table.forced_correct == agrees).all() and (fit.labels == agrees).all()
    assert fit.table.full_correct.all()


@pytest.mark.parametrize("mode, level", [("accuracy-drop", {"epsilon": 0.1}), ("stop-precision", {"alpha": 0.1}),
                                         ("cue", {"alpha": 0.3})])
def test_graded_modes_refuse_data_without_gold(tmp_path, mode, level):
    data = load_cue_data(write(tmp_path / "cues", gold=False))
    with pytest.raises(ValueError, match=f"collected from mine.jsonl without gold answers.*mode '{mode}'.*answer-change"):
        fit_probe_artifact(data, mode, **level)
