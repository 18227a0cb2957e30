"""`fit_probe_artifact` on cue data of a model that writes `<think>` itself: token counts are counted inside thinking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cotexit.calibration import evaluate
from cotexit.controller.semantics import EXIT_SEMANTICS
from cotexit.probes.cuedata import CueDataWriter, load_cue_data
from cotexit.probes.fit import cue_table, fit_probe_artifact

THINKING = 70  # thinking tokens of every full run
CUE_AT = (20, 40, 60)  # where each problem's cues cut, counted inside thinking


def preamble(i: int) -> int:
    """Generated tokens before thinking starts in problem i: the model writes a few words and `<think>\\n`."""
    return 2 + i % 5


def write(folder: Path, n: int = 40) -> Path:
    """Cue data as `cotexit collect` writes it (before-cue cuts) for a model whose prompt does not open thinking."""
    rng = np.random.default_rng(0)
    meta = {
        "fingerprint": {"model": "tiny", "num_layers": 4, "hidden_size": 8}, "features": {"layers": [2, 4], "hidden_size": 8},
        "thinking_format": {"name": "think-tags"}, "exit_semantics": EXIT_SEMANTICS.to_json(),
        "cues": {"phrases": ["Wait"]}, "decode": {"temperature": 0.0}, "suite": "arith", "split": "calib",
    }
    writer = CueDataWriter(folder, meta, match_keys=("fingerprint",))
    problems, cues, features = [], [], []
    for i in range(n):
        start = preamble(i)
        for j, inside in enumerate(CUE_AT):
            right = j > 0 or i % 2 == 0
            cues.append({
                "problem": f"arith/calib/{i}", "index": j, "phrase": "Wait",
                "token_start": start + inside, "token_end": start + inside + 1, "cut": start + inside,
                "thinking_tokens_before": inside, "forced_correct": right, "forced_tokens": 5,
            })
            x = rng.normal(size=16).astype(np.float32)
            x[0] = 2.0 if right else -2.0
            features.append(torch.from_numpy(x))
        problems.append({
            "id": f"arith/calib/{i}", "full_correct": True, "thinking_tokens": THINKING,
            "total_tokens": preamble(i) + THINKING + 12,
        })
    writer.append(problems, cues, torch.stack(features))
    return folder


@pytest.fixture
def data(tmp_path):
    return load_cue_data(write(tmp_path / "cues"))


def test_cue_tokens_are_the_cuts_inside_thinking_not_their_generated_index(data):
    table = cue_table(data, np.arange(len(data.problems)), np.full(len(data.cues), 0.5))
    assert table.cue_tokens.tolist() == list(CUE_AT) * len(data.problems)
    assert table.full_tokens.tolist() == [THINKING] * len(data.problems)


def test_the_fitted_artifact_counts_saved_tokens_inside_thinking(data):
    fit = fit_probe_artifact(data, "accuracy-drop", epsilon=0.2, delta=0.2)
    n = fit.table.n_problems
    assert n == fit.artifact.metrics["n_calib_problems"] > 0
    assert fit.table.cue_tokens.tolist() == list(CUE_AT) * n
    assert fit.artifact.evidence["cue_tokens"].tolist() == list(CUE_AT) * n
    # Exiting at every problem's first cue keeps 20 of its 70 thinking tokens, whatever came before <think>.
    first = evaluate(0.0, fit.table)
    assert first["thinking_tokens_controlled"] == CUE_AT[0] * n and first["thinking_tokens_full"] == THINKING * n
    assert first["tokens_saved_pct"] == pytest.approx(100.0 * (1 - CUE_AT[0] / THINKING))
    split = fit.artifact.metrics["calibration_split"]
    assert split["threshold"] is not None
    scores = fit.table.scores.reshape(n, len(CUE_AT))  # (P, 3): three cues a problem
    kept = [next((at for at, s in zip(CUE_AT, row) if s >= split["threshold"]), THINKING) for row in scores]
    assert split["thinking_tokens_controlled"] == sum(kept)
