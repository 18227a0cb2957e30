"""Compare a probe calibrated on `collect --backend hf` data with one calibrated on `collect --backend vllm` data.

For each pair SETTING:A:B (collect folders SETTING/A-cues and SETTING/B-cues and the probes `cotexit calibrate`
made from them, SETTING/A-probe and SETTING/B-probe):
held-out AUROC, threshold and how many calibration-score grid steps apart the thresholds are (the grid is each
probe's own candidate thresholds, its calibration scores; "one step" = adjacent candidates), and how the
collections agree cue by cue (same cues at the same tokens, same forced-answer labels, features).

    python eval/vllm/collect/compare.py --root eval/vllm/collect --data runs/vllm-collect \
        --pairs greedy:hf:vllm t0.6:hf:vllm t0.6:hf:hf-seed1 --out eval/vllm/collect/comparison.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from cotexit.certificates.evidence import load_evidence
from cotexit.probes.cuedata import load_cue_data


def grid_steps(grid: np.ndarray, a: float, b: float) -> int:
    """Candidate thresholds of `grid` in (min(a, b), max(a, b)]: 0 when equal, 1 when adjacent."""
    lo, hi = min(a, b), max(a, b)
    return int(np.count_nonzero((grid > lo) & (grid <= hi)))


def probe_summary(folder: Path) -> dict:
    card = json.loads((folder / "card.json").read_text())
    return {
        "auroc_heldout": card["metrics"]["auroc_heldout"],
        "threshold": card["calibration"]["threshold"],
        "n_calib_cues": card["metrics"]["n_calib_cues"],
        "exit_rate": card["metrics"]["calibration_split"]["exit_rate"],
        "tokens_saved_pct": card["metrics"]["calibration_split"]["tokens_saved_pct"],
        "exit_semantics": card["exit_semantics"]["cut"],
    }


def cue_agreement(hf: Path, vllm: Path) -> dict:
    a, b = load_cue_data(hf), load_cue_data(vllm)
    index_a = {(c["problem"], c["index"]): j for j, c in enumerate(a.cues)}
    same_cue, same_label, diffs = 0, 0, []
    for j, c in enumerate(b.cues):
        i = index_a.get((c["problem"], c["index"]))
        if i is None or (a.cues[i]["token_start"], a.cues[i]["phrase"]) != (c["token_start"], c["phrase"]):
            continue
        same_cue += 1
        same_label += a.cues[i]["forced_correct"] == c["forced_correct"]
        diffs.append(float((a.features[i] - b.features[j]).abs().max()))
    texts_a = {p["id"]: (p["thinking_tokens"], p["prediction"]) for p in a.problems}
    same_run = sum(texts_a.get(p["id"]) == (p["thinking_tokens"], p["prediction"]) for p in b.problems)
    return {
        "problems": [len(a.problems), len(b.problems)],
        "cues": [len(a.cues), len(b.cues)],
        "forced_right": [sum(c["forced_correct"] for c in a.cues), sum(c["forced_correct"] for c in b.cues)],
        "full_right": [sum(p["full_correct"] for p in a.problems), sum(p["full_correct"] for p in b.problems)],
        "same_thinking_length_and_prediction": same_run,
        "matched_cues": same_cue,
        "matched_same_label": same_label,
        "matched_feature_max_abs_diff": max(diffs) if diffs else None,
        "feature_scale": float(torch.as_tensor(a.features).abs().max()) if len(a.cues) else None,
    }


def compare(root: Path, data: Path, pair: str) -> dict:
    setting, a, b = pair.split(":")
    first, second = probe_summary(root / setting / f"{a}-probe"), probe_summary(root / setting / f"{b}-probe")
    grid_a = np.unique(load_evidence(root / setting / f"{a}-probe" / "evidence.safetensors")["scores"])
    grid_b = np.unique(load_evidence(root / setting / f"{b}-probe" / "evidence.safetensors")["scores"])
    t_a, t_b = first["threshold"], second["threshold"]
    steps = [grid_steps(grid_a, t_a, t_b), grid_steps(grid_b, t_a, t_b)] if None not in (t_a, t_b) else None
    return {
        "a": {"name": a, **first},
        "b": {"name": b, **second},
        "auroc_diff": abs(first["auroc_heldout"] - second["auroc_heldout"]),
        "threshold_grid_steps": steps,  # [on a's grid, on b's grid]; None when either certifies no threshold
        "auroc_within_0.02": abs(first["auroc_heldout"] - second["auroc_heldout"]) <= 0.02,
        "threshold_within_one_step": steps is not None and min(steps) <= 1,
        "data": cue_agreement(data / setting / f"{a}-cues", data / setting / f"{b}-cues"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="folder with SETTING/NAME-probe")
    parser.add_argument("--data", type=Path, required=True, help="folder with SETTING/NAME-cues")
    parser.add_argument("--pairs", nargs="+", required=True, help="SETTING:A:B, e.g. greedy:hf:vllm")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    result = {"command": " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])]),
              "pairs": {p: compare(args.root, args.data, p) for p in args.pairs}}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name, r in result["pairs"].items():
        a, b = r["a"], r["b"]
        print(f"{name}: AUROC {a['auroc_heldout']:.4f} vs {b['auroc_heldout']:.4f} "
              f"(diff {r['auroc_diff']:.4f}); threshold {a['threshold']} vs {b['threshold']} "
              f"(grid steps {r['threshold_grid_steps']}); cues {r['data']['cues']}, matched {r['data']['matched_cues']} "
              f"with the same label {r['data']['matched_same_label']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
