"""Does this run look like the calibration data? Its decoding, and a two-sample test on first-cue probe scores.

Owns `shift_check`, `settings_shift` and `settings_coverage`. A calibrated guarantee assumes the new problems come from
the calibration distribution. The probe's score at a run's first cue is
computed before any exit can happen, so under no shift this run's first-cue
scores and the calibration problems' are two samples of one distribution; a
Kolmogorov-Smirnov test at level `alpha` says when they are not, and with it
that the bound may not hold. It cannot prove the absence of shift: a shift
the first-cue score does not see passes (on the toy model, sampling at T=1.0
instead of 0.6 breaks the bound but leaves first-cue scores alike), so the
decoding settings and the cue phrases are compared too (`settings_shift`):
a guarantee is earned at one temperature, stopping at one set of cues. A
probe certified over several settings covers a run whose decoding is one of
them, computed in the dtype its features were (`settings_coverage`).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> shift_check(rng.beta(2, 5, 500), rng.beta(2, 5, 300)).shifted
False
>>> shift_check(rng.beta(2, 5, 500), rng.beta(5, 2, 300)).shifted
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import ks_2samp

MIN_SCORES = 20


@dataclass(frozen=True)
class ShiftCheck:
    test: str
    statistic: float | None
    p_value: float | None
    alpha: float
    n_calibration: int
    n_run: int
    shifted: bool
    message: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def shift_check(reference: np.ndarray, scores: np.ndarray, alpha: float = 0.01) -> ShiftCheck:
    """Compare this run's first-cue scores with the calibration problems' (two-sided KS, level `alpha`)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    reference = np.asarray(reference, dtype=np.float64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    test = "two-sample Kolmogorov-Smirnov on first-cue probe scores"
    if reference.size < MIN_SCORES or scores.size < MIN_SCORES:
        return ShiftCheck(
            test, None, None, alpha, reference.size, scores.size, False,
            f"not tested: needs >= {MIN_SCORES} first-cue scores on each side (calibration {reference.size}, "
            f"this run {scores.size})",
        )
    result = ks_2samp(reference, scores)
    shifted = bool(result.pvalue < alpha)
    if shifted:
        message = (
            f"this run's first-cue probe scores do not look like the calibration data's (KS D={result.statistic:.3f}, "
            f"p={result.pvalue:.2g} < {alpha:g}; medians {np.median(scores):.3f} here, {np.median(reference):.3f} at "
            f"calibration): the problems or the decoding may differ from calibration, and the guarantee may not hold"
        )
    else:
        message = (
            f"no shift detected in first-cue probe scores (KS D={result.statistic:.3f}, p={result.pvalue:.2g} >= {alpha:g})"
        )
    return ShiftCheck(test, float(result.statistic), float(result.pvalue), alpha, reference.size, scores.size, shifted, message)


_DECODING = (("sampling", "temperature"), ("sampling", "top_p"), ("max_new_tokens",), ("max_answer_tokens",))


def settings_shift(
    calibrated_decode: dict[str, Any] | None,
    run_decode: dict[str, Any],
    calibrated_cues: dict[str, Any] | None = None,
    run_cues: dict[str, Any] | None = None,
) -> str | None:
    """Why this run's decoding (`DecodeConfig.to_json()`) or cues (`CueConfig.to_json()`) differ from the
    calibration runs', or None when they do not."""
    if calibrated_decode is None:
        return "the artifact does not record the decoding it was calibrated with"

    def get(config: dict[str, Any], path: tuple[str, ...]) -> Any:
        for key in path:
            config = config.get(key) if isinstance(config, dict) else None
        return config

    diffs = [
        f"{'.'.join(path)} {get(run_decode, path)} (calibrated at {get(calibrated_decode, path)})"
        for path in _DECODING
        if get(run_decode, path) != get(calibrated_decode, path)
    ]
    return _differs(diffs + _cue_diffs(calibrated_cues, run_cues))


def _cue_diffs(calibrated_cues: dict[str, Any] | None, run_cues: dict[str, Any] | None) -> list[str]:
    """How the run's cue set (`CueConfig.to_json()`) differs from the calibrated one, a phrase each."""
    if calibrated_cues is None or run_cues is None:
        return []
    diffs = []
    for key in ("phrases", "paragraph_breaks", "sentence_start_only"):
        run, calibrated = run_cues.get(key), calibrated_cues.get(key)
        if key == "phrases":
            run, calibrated = sorted(run or ()), sorted(calibrated or ())
        if run != calibrated:
            diffs.append(f"cues.{key} {run} (calibrated with {calibrated})")
    return diffs


def _differs(diffs: list[str]) -> str | None:
    if not diffs:
        return None
    return f"this run differs from calibration in {'; '.join(diffs)}: the guarantee was earned with the calibration's settings"


def settings_coverage(
    covered: list[dict[str, Any]],
    run_decode: dict[str, Any],
    run_dtype: str | None,
    calibrated_cues: dict[str, Any] | None = None,
    run_cues: dict[str, Any] | None = None,
) -> tuple[str | None, str | None]:
    """(why the run is not covered or None, the name of the setting that covers it or None).

    `covered` lists the settings a probe was certified over, each {"name", "decode", "dtype"} (a card's
    `corpus.settings`; one unnamed entry for a one-setting probe). A run is covered by a setting when its decoding
    is that setting's (`settings_shift`), its cues are the probe's, and it computes in the setting's dtype (a
    setting without a recorded dtype, from before dtypes were recorded, accepts any).
    """
    if not covered:
        raise ValueError("a probe covers at least one setting")
    cue_note = _differs(_cue_diffs(calibrated_cues, run_cues))  # every setting has the probe's one cue set
    if cue_note is not None:
        return cue_note, None
    notes, dtype_note = [], None
    for setting in covered:
        note = settings_shift(setting["decode"], run_decode)
        dtype = setting.get("dtype")
        if note is None and dtype is not None and run_dtype is not None and run_dtype != dtype:
            name = f" {setting['name']}" if setting.get("name") else ""
            note = dtype_note = (
                f"this run's decoding is the certified setting{name}, but it computes in {run_dtype} and the probe's "
                f"features were computed in {dtype} (--dtype {dtype} runs covered): other rounding moves its scores "
                "and exits"
            )
        if note is None:
            return None, setting.get("name")
        notes.append(note)
    if dtype_note is not None:
        return dtype_note, None
    if len(covered) == 1:
        return notes[0], None
    names = ", ".join(str(s.get("name")) for s in covered)
    sampling = run_decode.get("sampling") or {}
    run = (f"temperature {sampling.get('temperature')}, top_p {sampling.get('top_p')}, max_new_tokens "
           f"{run_decode.get('max_new_tokens')}, max_answer_tokens {run_decode.get('max_answer_tokens')}"
           + (f", dtype {run_dtype}" if run_dtype else ""))
    return (f"this run ({run}) is none of the {len(covered)} settings the probe was certified over ({names}): its "
            "guarantee holds in those settings only"), None
