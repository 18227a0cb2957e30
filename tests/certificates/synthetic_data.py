"""Synthetic collected cue data (as `cotexit collect` writes it) for certificate and joint-calibration tests.

Features are 16 numbers per cue; feature 0 carries the label, so a fitted
probe separates right from wrong forced answers. A depth setting (`flip`)
turns a share of right answers wrong and records fewer layers per token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from cotexit.controller.semantics import EXIT_SEMANTICS
from cotexit.probes.cuedata import CueDataWriter, load_cue_data

FEATURES = {"layers": [2, 4], "hidden_size": 8}
CUES = {"phrases": ["Wait"]}


def write_cue_data(
    folder: Path, fingerprint: dict[str, Any], *, n: int = 300, start: int = 0, seed: int = 0,
    flip: float = 0.0, layer_exit: dict[str, Any] | None = None, layers: float | None = None,
    decode: dict[str, Any] | None = None, dtype: str | None = None, mislead: float = 0.0,
) -> Path:
    """`mislead`: the share of cues whose forced answer is wrong though their features look right (a riskier
    setting: harm the probe cannot see)."""
    rng = np.random.default_rng(seed)
    hit_rng = np.random.default_rng(seed + 1000)
    meta = {
        "fingerprint": fingerprint, "features": FEATURES, "thinking_format": {"name": "toy"},
        "exit_semantics": EXIT_SEMANTICS.to_json(), "cues": CUES, "decode": decode or {"temperature": 0.6},
        "suite": "arith", "split": "calib", "layer_exit": layer_exit, **({"dtype": dtype} if dtype else {}),
    }
    writer = CueDataWriter(folder, meta, match_keys=("fingerprint", "layer_exit"))
    problems, cues, features = [], [], []
    for i in range(start, start + n):
        full = bool(rng.random() < 0.8)
        hit = bool(hit_rng.random() < flip)
        known = int(rng.integers(0, 4))
        for j in range(3):
            right = (full and j >= known and not hit) or bool(rng.random() < 0.1)
            looks_right = right
            if mislead and right and rng.random() < mislead:
                right = False
            x = rng.normal(size=16).astype(np.float32)
            x[0] = (1.5 if looks_right else -1.5) + rng.normal()
            cues.append({
                "problem": f"arith/calib/{i}", "index": j, "phrase": "Wait", "token_start": 20 * (j + 1),
                "thinking_tokens_before": 20 * (j + 1) - 1, "token_end": 20 * (j + 1) + 1,
                "forced_correct": right, "forced_tokens": 5, "forced_agrees": right == (full and not hit),
            })
            features.append(torch.from_numpy(x))
        problems.append({
            "id": f"arith/calib/{i}", "full_correct": full and not hit, "thinking_tokens": 90, "total_tokens": 100,
            "layers_per_token": float(layers if layers is not None else fingerprint["num_layers"]),
        })
    writer.append(problems, cues, torch.stack(features))
    return folder


def cue_data(folder: Path):
    return load_cue_data(folder)
