"""From collected cue data to a calibrated probe artifact.

Owns `fit_probe_artifact`: split the problems (never the cues) into a probe
training part and a calibration part, fit the probe on the first, score the
second, choose the threshold there with `cotexit.calibration` (keeping the
scored calibration problems as the artifact's evidence), and measure
the probe on those held-out problems (AUROC, expected calibration error, and
what the chosen threshold does). The labels, and whether the mode may use
data collected without gold answers, are `outcomes`' (`answer-change`:
the forced answer agrees with the full run's). Writing files is the caller's job.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from cotexit.calibration import Calibration, CueTable, calibrate, evaluate, split_by_problem
from cotexit.calibration.result import level_name
from cotexit.calibration.shortfall import TooFewSamples
from cotexit.calibration.splits import n_calibration
from cotexit.certificates.evidence import table_arrays
from cotexit.controller.semantics import EXIT_SEMANTICS
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.cuedata import CueData
from cotexit.probes.features import FeatureSpec
from cotexit.probes.outcomes import cue_labels, full_outcomes, gold_read, mode_metrics, require_gold
from cotexit.probes.probe import Probe, ProbeConfig


SWEEP_LEVELS = (0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.1, 0.2, 0.3)


@dataclass
class FitResult:
    artifact: ProbeArtifact
    calibration: Calibration
    table: CueTable  # the calibration problems, scored
    scores: np.ndarray  # (calibration cues,) probe scores
    labels: np.ndarray  # (calibration cues,) the mode's label: forced answer right (answer-change: agrees)


def cue_table(data: CueData, problems: np.ndarray, scores: np.ndarray, mode: str = "accuracy-drop") -> CueTable:
    """The CueTable of `problems` (indices into data.problems) with `mode`'s labels (`outcomes`); `scores` has
    one entry per cue of `data`."""
    groups = data.cues_by_problem()
    labels, full = cue_labels(data, mode), full_outcomes(data, mode)
    return CueTable.from_lists(
        [[float(scores[j]) for j in groups[i]] for i in problems],
        [[bool(labels[j]) for j in groups[i]] for i in problems],
        [bool(full[i]) for i in problems],
        cue_tokens=[[_thinking_tokens_before(data.cues[j]) for j in groups[i]] for i in problems],
        full_tokens=[int(data.problems[i]["thinking_tokens"]) for i in problems],
    )


def _thinking_tokens_before(cue: dict[str, Any]) -> int:
    """Where an exit at `cue` cuts, counted inside thinking (CueTable's `cue_tokens`).

    Not the cut itself (`cut`, a generated-token index): a model that writes
    `<think>` itself starts thinking some tokens into its output. Cue data from
    before `thinking_tokens_before` was recorded falls back to the cue's start.
    """
    return int(cue.get("thinking_tokens_before", cue["token_start"]))


def fit_probe_artifact(
    data: CueData,
    mode: str,
    *,
    alpha: float | None = None,
    epsilon: float | None = None,
    delta: float = 0.1,
    probe: ProbeConfig | None = None,
    calib_fraction: float = 0.5,
    seed: int = 0,
    corpus: dict[str, Any] | None = None,
    fitted: Probe | None = None,
) -> FitResult:
    """Fit (or, with `fitted`, keep that probe's weights) on the training split and calibrate on the rest."""
    require_gold(data, mode)
    if len(data.cues) == 0:
        raise ValueError("the cue data has no cues: nothing to fit a probe on")
    fitted_given = fitted is not None
    probe = fitted.config if fitted is not None else (probe or ProbeConfig(seed=seed))
    train, calib = split_by_problem(len(data.problems), calib_fraction, seed)
    groups = data.cues_by_problem()
    train_cues = np.array([j for i in train for j in groups[i]], dtype=np.int64)
    calib_cues = np.array([j for i in calib for j in groups[i]], dtype=np.int64)
    labels = cue_labels(data, mode)
    if len(train_cues) == 0:
        raise ValueError(
            f"none of the {len(train)} probe-training problems met a cue (calib_fraction {calib_fraction:g}, "
            f"--calib-fraction, sent {len(calib)} of the {len(data.problems)} problems to calibration): nothing to fit "
            "the probe on; collect more problems or lower --calib-fraction"
        )
    if fitted is None:
        fitted = Probe.fit(data.features[train_cues].numpy(), labels[train_cues], probe)
    with torch.no_grad():
        scores = fitted.score(data.features).numpy().astype(np.float64)
    table = cue_table(data, calib, scores, mode)
    try:
        cal = calibrate(table, mode, alpha=alpha, epsilon=epsilon, delta=delta)
    except TooFewSamples as exc:
        raise exc.reworded(split_advice(exc, len(data.problems), calib_fraction, weights_kept=fitted_given)) from exc
    levels = sweep_thresholds(lambda level: calibrate(table, mode, delta=delta, **{level_name(mode): level}))
    held_scores, held_labels = scores[calib_cues], labels[calib_cues]
    metrics = heldout_metrics(
        held_scores, held_labels, n_train=len(train), n_calib=len(calib), n_train_cues=len(train_cues),
        calibration_split=mode_metrics(evaluate(cal, table), mode),
    )
    meta = data.meta
    covers = {  # the decoding the guarantee assumes, and the dtype its features were computed in
        "decode": meta.get("decode"), **({"dtype": meta["dtype"]} if meta.get("dtype") else {}),
    }
    artifact = fitted_artifact(
        meta, fitted, cal, levels=levels, evidence=table_arrays(table), metrics=metrics,
        corpus=corpus, seed=seed, calib_fraction=calib_fraction, covers=covers,
    )
    return FitResult(artifact, cal, table, held_scores, held_labels)


def sweep_thresholds(calibrate_at: Callable[[float], Calibration]) -> dict[str, float | None]:
    """The thresholds at the sweep's levels (`SWEEP_LEVELS`), by `calibrate_at(level)` on the same data and delta,
    for the Pareto sweep; a level the data hold too few problems for is left out."""
    levels = {}
    for level in SWEEP_LEVELS:
        try:
            levels[str(level)] = calibrate_at(level).threshold
        except ValueError:
            continue
    return levels


def heldout_metrics(
    scores: np.ndarray, labels: np.ndarray, *, n_train: int, n_calib: int, n_train_cues: int,
    calibration_split: dict[str, Any],
) -> dict[str, Any]:
    """The card's `metrics`: how the probe ranks the held-out (calibration) cues, the split's sizes, and what the
    chosen threshold does on the calibration problems."""
    return {
        "auroc_heldout": auroc(scores, labels),
        "ece_heldout": expected_calibration_error(scores, labels),
        "n_train_problems": int(n_train),
        "n_calib_problems": int(n_calib),
        "n_train_cues": int(n_train_cues),
        "n_calib_cues": int(len(scores)),
        "calibration_split": calibration_split,
    }


def fitted_artifact(
    meta: dict[str, Any],
    probe: Probe,
    cal: Calibration,
    *,
    levels: dict[str, float | None],
    evidence: dict[str, np.ndarray],
    metrics: dict[str, Any],
    corpus: dict[str, Any] | None,
    seed: int,
    calib_fraction: float,
    covers: dict[str, Any],
    settings: list[dict[str, Any]] | None = None,
) -> ProbeArtifact:
    """The artifact of a probe fitted and calibrated on collected cue data with `meta`: the collection's model,
    features, cues and exit semantics, the calibration record (`settings`: each decoding setting's record when one
    threshold was certified over several), and the corpus with what the guarantee covers (`covers`)."""
    return ProbeArtifact(
        probe=probe,
        features=FeatureSpec(**meta["features"]),
        fingerprint=meta["fingerprint"],
        cues=meta["cues"],
        thinking_format=meta["thinking_format"],
        exit_semantics=meta.get("exit_semantics", EXIT_SEMANTICS.to_json()),  # cue data before it was recorded: the loop's
        calibration={
            **{k: v for k, v in asdict(cal).items() if k not in ("candidates", "risks", "p_values", "n_effective", "certified")},
            "p_value": "binomial",
            "thresholds_by_level": levels,
            "gold_read": gold_read(meta),  # False: collected from a prompt file, no answer graded against gold
            **({"settings": settings} if settings is not None else {}),
        },
        evidence=evidence,
        corpus={
            **(corpus or {}), "suite": meta.get("suite"), "split": meta.get("split"), "seed": seed,
            **({"prompts": meta["prompts"]} if meta.get("prompts") else {}),
            "calib_fraction": calib_fraction, **covers,
        },
        metrics=metrics,
    )


def split_advice(exc: TooFewSamples, n_problems: int, calib_fraction: float, *, weights_kept: bool = False) -> str:
    """`exc` retold for a collection of `n_problems` split at `calib_fraction`: how the split went and what to change.

    The ways out: collect more problems (how many, at this fraction), give calibration a larger share (when the
    collection holds enough), or ask for looser levels. With `weights_kept` (--weights-from) the probe-training
    problems may be the ones those weights were fitted on, which must never move into calibration.
    """
    n_calib = n_calibration(n_problems, calib_fraction)
    told = (
        f"{exc.detail}. The collection has {n_problems} problems; calib_fraction {calib_fraction:g} "
        f"(--calib-fraction) sent {n_problems - n_calib} of them to fitting the probe and {n_calib} to calibration"
    )
    need, about = exc.need, ""
    if exc.unit != "calibration problems":  # e.g. wrong cues: scale by this data's rate per calibration problem
        need, about = (math.ceil(exc.need * n_calib / exc.got) if exc.got else None), "about "
    ways = [] if need is not None else ["collect more problems (the calibration problems met no wrong cue to scale by)"]
    if need is not None:
        total = max(n_problems, math.ceil(need / calib_fraction) - 2)
        while n_calibration(total, calib_fraction) < need:
            total += 1
        ways.append(
            f"collect {about}{total - n_problems} more problems ({total} in all at this fraction; `cotexit collect` "
            "with a larger --limit resumes the same folder)"
        )
        fraction = _fraction_for(need, n_problems)
        if fraction is not None:
            caveat = " (not with --weights-from: its weights were fitted on the training problems)" if weights_kept else ""
            ways.append(
                f"raise --calib-fraction to {about}{fraction:g} ({n_calibration(n_problems, fraction)} to calibrate, "
                f"{n_problems - n_calibration(n_problems, fraction)} left to fit the probe){caveat}"
            )
    if exc.looser:
        ways.append(f"ask for less: {exc.looser}")
    return f"{told}. Ways out: {'; or '.join(ways)}." if ways else f"{told}."


def _fraction_for(need: int, n_problems: int) -> float | None:
    """The smallest calib_fraction (in hundredths) giving calibration `need` of `n_problems`; None: none below 1."""
    fraction = math.ceil(100 * need / n_problems) / 100
    while fraction < 1.0 and n_calibration(n_problems, fraction) < need:
        fraction = round(fraction + 0.01, 2)
    return fraction if fraction < 1.0 and n_calibration(n_problems, fraction) >= need else None


def auroc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve (None when only one label is present)."""
    positives, negatives = scores[labels], scores[~labels]
    if len(positives) == 0 or len(negatives) == 0:
        return None
    order = np.argsort(np.concatenate([positives, negatives]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    all_scores = np.concatenate([positives, negatives])
    for value in np.unique(all_scores):  # average ranks over ties
        tied = all_scores == value
        ranks[tied] = ranks[tied].mean()
    return float((ranks[: len(positives)].sum() - len(positives) * (len(positives) + 1) / 2) / (len(positives) * len(negatives)))


def expected_calibration_error(scores: np.ndarray, labels: np.ndarray, bins: int = 10) -> float | None:
    if len(scores) == 0:
        return None
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.mean() * abs(scores[inside].mean() - labels[inside].mean())
    return float(error)
