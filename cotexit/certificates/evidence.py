"""Calibration evidence on disk: named arrays in `evidence.safetensors`, never a pickle.

Owns reading and writing the evidence file and the two layouts it holds:
- a `CueTable` (`table_arrays` / `table_from_arrays`): every calibration
  problem's cue scores, forced-exit labels and reference correctness, from
  which any length-exit calibration is recomputed exactly;
- per-candidate loss sums over n units (`depth` calibrations): sufficient
  statistics for their Hoeffding-Bentkus p-values.
Arrays of one table can share a prefix (`arm0/scores`), so a joint calibration
keeps one table per depth setting in the same file, and a calibration over
decoding settings one per setting (`setting0/scores`, `setting_tables`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from cotexit.calibration.data import CueTable
from cotexit.files import follow_umask

EVIDENCE = "evidence.safetensors"


def save_evidence(arrays: dict[str, np.ndarray], path: str | os.PathLike[str]) -> Path:
    out = {name: np.ascontiguousarray(value) for name, value in arrays.items()}
    for name, value in out.items():
        if value.dtype == bool:
            out[name] = value.astype(np.uint8)  # safetensors' bool is fine, but uint8 reads the same everywhere
    save_file(out, str(path), metadata={"format": "cotexit-evidence"})
    follow_umask(path)  # safetensors writes 0600
    return Path(path)


def load_evidence(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"unreadable evidence file {path}: {exc}") from exc


def table_arrays(table: CueTable, prefix: str = "") -> dict[str, np.ndarray]:
    out = {
        f"{prefix}scores": table.scores.astype(np.float64),
        f"{prefix}forced_correct": table.forced_correct,
        f"{prefix}offsets": table.offsets.astype(np.int64),
        f"{prefix}full_correct": table.full_correct,
    }
    if table.has_tokens:
        out[f"{prefix}cue_tokens"] = table.cue_tokens.astype(np.int64)
        out[f"{prefix}full_tokens"] = table.full_tokens.astype(np.int64)
    return out


def table_from_arrays(arrays: dict[str, np.ndarray], prefix: str = "") -> CueTable:
    needed = [f"{prefix}{k}" for k in ("scores", "forced_correct", "offsets", "full_correct")]
    missing = [k for k in needed if k not in arrays]
    if missing:
        raise ValueError(f"evidence lacks {', '.join(missing)}")
    tokens = f"{prefix}cue_tokens" in arrays
    return CueTable(
        scores=arrays[f"{prefix}scores"],
        forced_correct=arrays[f"{prefix}forced_correct"].astype(bool),
        offsets=arrays[f"{prefix}offsets"],
        full_correct=arrays[f"{prefix}full_correct"].astype(bool),
        cue_tokens=arrays[f"{prefix}cue_tokens"] if tokens else None,
        full_tokens=arrays[f"{prefix}full_tokens"] if tokens else None,
    )


def first_cue_scores(table: CueTable) -> np.ndarray:
    """Each problem's score at its first cue (problems without cues left out): what the shift check compares."""
    has = np.diff(table.offsets) > 0
    return table.scores[table.offsets[:-1][has]]


SETTING_PREFIX = "setting{}/"  # the arrays of the i-th decoding setting's calibration table


def setting_tables(arrays: dict[str, np.ndarray], names: list[str]) -> dict[str, CueTable]:
    """{name: table} of a calibration over decoding settings, the i-th name's arrays under `setting<i>/`."""
    return {name: table_from_arrays(arrays, SETTING_PREFIX.format(i)) for i, name in enumerate(names)}
