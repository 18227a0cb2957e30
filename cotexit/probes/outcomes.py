"""What a collected cue's label and a run's outcome are in each calibration mode.

Owns `gold_read` (whether a collection graded anything against gold
answers: a `collect --prompts` folder did not), `require_gold` (the modes
that need gold refuse data without it), `forced_agrees` (whether a cue's
forced answer is the full run's final answer, `same_answer`), `cue_labels`
and `full_outcomes`, the two columns of a `CueTable`:

- `cue`, `stop-precision`, `accuracy-drop`: the forced answer is right; the
  run thought to the end is right (both graded against gold);
- `answer-change`: the forced answer agrees with the full run's; the run
  thought to the end agrees with itself (all True). The probe is fitted on
  these labels too, so it learns "the answer will not change from here".

Collecting is `cotexit.experiments.collect`'s; the statistics are
`cotexit.calibration`'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cotexit.benchmarks.grading import same_answer
from cotexit.calibration.result import MODES
from cotexit.probes.cuedata import CueData

GOLD_FREE_MODES = ("answer-change",)


def gold_read(meta: dict[str, Any]) -> bool:
    """Whether the collection graded answers against gold ones (folders from before this was recorded did)."""
    return bool(meta.get("gold_read", True))


def require_gold(data: CueData, mode: str, where: str = "the cue data") -> None:
    """Refuse a mode that grades against gold answers on data collected without them."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode not in GOLD_FREE_MODES and not gold_read(data.meta):
        source = data.meta.get("prompts") or "a prompt file"
        raise ValueError(
            f"{where} was collected from {source} without gold answers, so nothing in it is graded right or wrong "
            f"and mode {mode!r} cannot be calibrated on it; use --mode answer-change (it bounds how often the exit "
            "changes the answer, which needs no gold), or collect with --suite on problems that have answers"
        )


def forced_agrees(cue: dict[str, Any], problem: dict[str, Any]) -> bool:
    """Whether the answer forced at `cue` is the full run's final answer (`same_answer`: graded alike).

    Read from the cue's `forced_agrees`, or, in data collected before it was recorded, recomputed from the
    answers both rows keep."""
    if "forced_agrees" in cue:
        return bool(cue["forced_agrees"])
    if "forced_answer" not in cue or "prediction" not in problem:
        raise ValueError(
            f"cue {cue.get('index')} of problem {cue.get('problem')!r} records neither forced_agrees nor the answers "
            "to compare (forced_answer, and the problem's prediction); collect the data again with `cotexit collect`"
        )
    return same_answer(problem["prediction"], cue["forced_answer"])


def cue_labels(data: CueData, mode: str) -> np.ndarray:
    """(C,) bool: each cue's label in `mode`, in `data.cues` order."""
    require_gold(data, mode)
    if mode in GOLD_FREE_MODES:
        problems = {p["id"]: p for p in data.problems}
        return np.array([forced_agrees(c, problems[c["problem"]]) for c in data.cues], dtype=bool)
    return np.array([bool(c["forced_correct"]) for c in data.cues], dtype=bool)


def full_outcomes(data: CueData, mode: str) -> np.ndarray:
    """(P,) bool: each problem's run thought to the end in `mode`, in `data.problems` order."""
    require_gold(data, mode)
    if mode in GOLD_FREE_MODES:
        return np.ones(len(data.problems), dtype=bool)
    return np.array([bool(p["full_correct"]) for p in data.problems], dtype=bool)


_NO_GOLD_NAMES = {"harm_rate": "answer_change_rate", "stop_precision": "agree_given_stop"}
_GRADED = ("accuracy_full", "accuracy_controlled", "gain_rate", "accuracy_drop")


def mode_metrics(metrics: dict[str, Any], mode: str) -> dict[str, Any]:
    """`cotexit.calibration.evaluate`'s metrics named for `mode`: in `answer-change` the graded ones (accuracy
    of runs compared with themselves, always 100%) are left out and the harm rate is the answer-change rate."""
    if mode not in GOLD_FREE_MODES:
        return metrics
    out = {}
    for key, value in metrics.items():
        base = next((k for k in (*_NO_GOLD_NAMES, *_GRADED) if key == k or key.startswith(f"{k}_")), None)
        if base in _GRADED:
            continue
        out[key if base is None else _NO_GOLD_NAMES[base] + key[len(base):]] = value
    return out
