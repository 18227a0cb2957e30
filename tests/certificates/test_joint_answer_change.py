"""`calibrate-joint --loss answer-change` on synthetic prompt-file data (no gold answers): each arm is labelled by
agreement with the reference run's answer, the loss is an answer change, and the artifact says no gold was read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from synthetic_data import CUES, FEATURES

from cotexit.certificates import verify
from cotexit.cli.main import build_parser, main
from cotexit.controller.semantics import EXIT_SEMANTICS
from cotexit.depth.config import LayerExitConfig
from cotexit.models.loading import load_model
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.cuedata import CueDataWriter
from cotexit.probes.joint import load_arms

N = 600
LIGHT = json.loads(json.dumps(LayerExitConfig(points=tuple(range(1, 8)), thresholds=(0.999999,)).to_json()))
HEAVY = json.loads(json.dumps(LayerExitConfig(points=tuple(range(1, 8)), thresholds=(0.9,)).to_json()))


def main_raise(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


def write_prompt_data(
    folder: Path, fingerprint: dict[str, Any], *, flip: float = 0.0, layer_exit: dict[str, Any] | None = None,
    layers: float | None = None,
) -> Path:
    """Cue data as `collect --prompts` writes it: no gold. The reference run answers str(i); a depth setting
    changes the final answer of a share `flip` of the runs (to "x"), and every forced answer after the change."""
    rng = np.random.default_rng(5)
    hit_rng = np.random.default_rng(1005)
    meta = {
        "fingerprint": fingerprint, "features": FEATURES, "thinking_format": {"name": "toy"},
        "exit_semantics": EXIT_SEMANTICS.to_json(), "cues": CUES, "decode": {"temperature": 0.6},
        "suite": None, "split": None, "prompts": "mine.jsonl", "gold_read": False, "layer_exit": layer_exit,
    }
    writer = CueDataWriter(folder, meta, match_keys=("fingerprint", "layer_exit"))
    problems, cues, features = [], [], []
    for i in range(N):
        hit = bool(hit_rng.random() < flip)
        answer = "x" if hit else str(i)
        known = int(rng.integers(0, 4))
        for j in range(3):
            agrees = j >= known
            forced = answer if agrees else "wrong"
            x = rng.normal(size=16).astype(np.float32)
            x[0] = (1.5 if agrees else -1.5) + rng.normal()
            cues.append({
                "problem": f"mine.jsonl/{i}", "index": j, "phrase": "Wait", "token_start": 20 * (j + 1),
                "thinking_tokens_before": 20 * (j + 1) - 1, "token_end": 20 * (j + 1) + 1, "forced_answer": forced,
                "forced_correct": None, "forced_agrees": agrees, "forced_tokens": 5,
            })
            features.append(torch.from_numpy(x))
        problems.append({
            "id": f"mine.jsonl/{i}", "gold": None, "prediction": answer, "full_correct": None, "thinking_tokens": 90,
            "total_tokens": 100, "layers_per_token": float(layers if layers is not None else fingerprint["num_layers"]),
        })
    writer.append(problems, cues, torch.stack(features))
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory, toy_fingerprint):
    root = tmp_path_factory.mktemp("joint-change")
    return (
        write_prompt_data(root / "off", toy_fingerprint),
        write_prompt_data(root / "light", toy_fingerprint, flip=0.005, layer_exit=LIGHT, layers=6.0),
        write_prompt_data(root / "heavy", toy_fingerprint, flip=0.3, layer_exit=HEAVY, layers=2.0),
    )


def test_arms_are_labelled_by_agreement_with_the_reference_run(folders, probe_folder):
    probe = ProbeArtifact.load(probe_folder)
    config = load_model("toy", weights=False).model.config
    arms, reference_correct, _, ids = load_arms(probe, folders, config, loss="answer-change")
    assert reference_correct.all() and len(ids) == N
    off, light, heavy = arms
    assert off.table.full_correct.all()  # the reference agrees with itself
    changed = np.array([a == "x" for a in _predictions(folders[2])])
    assert (heavy.table.full_correct == ~changed).all() and changed.mean() > 0.2
    _, harms, _ = heavy.curves(reference_correct)
    assert harms[0] == changed.sum()  # never exiting: the loss is the depth setting's own answer changes
    # a forced answer that agrees with its own run agrees with the reference exactly where that run does
    assert (off.table.forced_correct == _recorded_agreement(folders[0])).all()
    assert not heavy.table.forced_correct[np.repeat(changed, 3)].any()


def _predictions(folder: Path) -> list[str]:
    return [json.loads(line)["prediction"] for line in (folder / "problems.jsonl").read_text().splitlines()]


def _recorded_agreement(folder: Path) -> np.ndarray:
    return np.array([json.loads(line)["forced_agrees"] for line in (folder / "cues.jsonl").read_text().splitlines()])


def test_calibrate_joint_with_the_answer_change_loss(folders, probe_folder, tmp_path):
    out = tmp_path / "art"
    assert main(["calibrate-joint", "--probe", str(probe_folder), "--epsilon", "0.05", "--loss", "answer-change",
                 "--out", str(out), "--data", *map(str, folders)]) == 0
    card = json.loads((out / "card.json").read_text())
    cal = card["calibration"]
    assert cal["mode"] == "joint" and cal["loss"] == "answer-change" and cal["gold_read"] is False
    assert cal["arm"] == "propagate-softmax-0.999999" and cal["threshold"] is not None
    assert next(a for a in cal["arms"] if a["layer_exit"] == HEAVY)["n_certified"] == 0  # 30% of answers changed
    assert "gives another answer than the run with neither exit) <= 0.05" in cal["guarantee"]
    metrics = card["metrics"]["calibration_problems"]
    assert "answer_change_rate" in metrics and "accuracy_both" not in metrics
    assert verify(out).ok


def test_the_accuracy_drop_loss_refuses_data_without_gold(folders, probe_folder, tmp_path):
    with pytest.raises(ValueError, match="without gold answers"):
        main_raise(["calibrate-joint", "--probe", str(probe_folder), "--epsilon", "0.05", "--out", str(tmp_path / "x"),
                    "--data", *map(str, folders)])
    assert not (tmp_path / "x").exists()
