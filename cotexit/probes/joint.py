"""From one probe and cue data collected at several depth settings to a jointly calibrated artifact.

Owns `load_arms` (score every setting's cues with the probe, align the
problems, estimate what each exit costs), `fit_joint_artifact` (run
`cotexit.calibration.joint.calibrate_joint` and write the artifact: the same
probe weights, the chosen threshold and depth setting, and the evidence) and
`replot_joint` (redraw a finished artifact's `joint.png` from its evidence). Each
folder is one `cotexit collect` run over the same problems, with the same
decoding, at one depth setting (`--depth-artifact ... --depth-threshold T`); the
one collected without depth exits is the reference. The calibration problems
must not be among those the probe was fitted on.

The loss is `accuracy-drop`'s (the reference run right, the run with both
exits wrong; graded against gold) or `answer-change`'s (the run with both
exits gives another answer than the reference run, `same_answer`; no gold
read): then each arm's labels say whether a forced answer, or the arm's own
run to the end, agrees with the reference run's answer, and the reference
counts as right everywhere, so `calibrate_joint`'s harm is an answer change.

Compute is estimated from the model's shapes (`cotexit.models.flops`): a run of
T generated tokens at L layers per token costs T * (L * block + LM head), the
block's attention at the run's mean context T / 2 (the prompt left out).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cotexit.benchmarks.grading import same_answer
from cotexit.calibration.answer_change import joint_guarantee
from cotexit.calibration.data import CueTable
from cotexit.calibration.evaluate import evaluate
from cotexit.calibration.joint import DepthArm, JointCalibration, calibrate_joint
from cotexit.certificates.evidence import table_arrays
from cotexit.models.flops import block_flops, head_flops
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.cuedata import CueData, load_cue_data
from cotexit.probes.outcomes import gold_read, require_gold

_SAME = ("features", "cues", "thinking_format", "decode", "suite", "split", "prompts")
LOSSES = ("accuracy-drop", "answer-change")


def run_flops(model_config: Any, tokens: np.ndarray, layers: np.ndarray) -> np.ndarray:
    """Estimated FLOPs of runs of `tokens` generated tokens at `layers` mean layers per token (same shapes)."""
    tokens, layers = np.asarray(tokens, dtype=np.float64), np.asarray(layers, dtype=np.float64)
    proj_mlp = sum(block_flops(model_config, 0))  # per token and layer, without attention over the context
    per_context = block_flops(model_config, 1)[0] - block_flops(model_config, 0)[0]  # attention per position
    return tokens * (layers * (proj_mlp + per_context * tokens / 2) + head_flops(model_config))


def arm_name(layer_exit: dict[str, Any] | None) -> str:
    if layer_exit is None:
        return "off"
    thresholds = ",".join(f"{t:g}" for t in layer_exit["thresholds"])
    return f"{layer_exit['mode']}-{layer_exit['measure']}-{thresholds}"


def _check_folder(probe: ProbeArtifact, data: CueData, folder: str, first: CueData) -> None:
    probe.check_model(data.meta["fingerprint"])
    if json.loads(json.dumps(data.meta["features"])) != json.loads(json.dumps(probe.features.to_json())):
        raise ValueError(f"{folder}: collected features {data.meta['features']} are not the probe's {probe.features.to_json()}")
    if data.meta["cues"] != probe.cues:
        raise ValueError(f"{folder}: collected with other cues than the probe's")
    semantics = data.meta.get("exit_semantics")
    if semantics is not None and semantics != probe.exit_semantics:
        raise ValueError(f"{folder}: its labels assumed other exit semantics than the probe's")
    changed = [k for k in _SAME if data.meta.get(k) != first.meta.get(k)]
    if changed:
        raise ValueError(f"{folder}: collected with other {', '.join(changed)} than the other folders")


def _answer(row: dict[str, Any], what: str) -> str | None:
    if "prediction" not in row:
        raise ValueError(f"{what} records no final answer to compare (data from an older `cotexit collect`); collect it again")
    return row["prediction"]


def _forced(cue: dict[str, Any], where: str) -> str | None:
    if "forced_answer" not in cue:
        raise ValueError(f"cue {cue.get('index')} of problem {cue.get('problem')!r} in {where} records no forced answer "
                         "to compare (data from an older `cotexit collect`); collect it again")
    return cue["forced_answer"]


def load_arms(
    probe: ProbeArtifact, folders: Sequence[str | os.PathLike[str]], model_config: Any, loss: str = "accuracy-drop"
) -> tuple[list[DepthArm], np.ndarray, np.ndarray, list[str]]:
    """(arms, reference correct (P,), reference cost (P,), problem ids) over the problems every folder completed.

    With `loss="answer-change"` "correct" means "agrees with the reference run's answer" (module docstring)."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    datas = [load_cue_data(f) for f in folders]
    for folder, data in zip(folders, datas):
        _check_folder(probe, data, str(folder), datas[0])
        require_gold(data, loss, where=str(folder))
    settings = [d.meta.get("layer_exit") for d in datas]
    names = [arm_name(s) for s in settings]
    if names.count("off") != 1:
        raise ValueError(f"give exactly one folder collected without depth exits (the reference); got {names}")
    if len(set(names)) != len(names):
        raise ValueError(f"two folders hold the same depth setting: {names}")
    reference = datas[names.index("off")]
    common = set.intersection(*({p["id"] for p in d.problems} for d in datas))
    ids = [p["id"] for p in reference.problems if p["id"] in common]
    if not ids:
        raise ValueError("the folders share no completed problem")
    if loss == "answer-change":
        rows = {p["id"]: p for p in reference.problems}
        reference_answer = {i: _answer(rows[i], f"problem {i!r} of the reference folder") for i in ids}
    arms = []
    for name, setting, data in zip(names, settings, datas):
        index = {p["id"]: i for i, p in enumerate(data.problems)}
        groups = data.cues_by_problem()
        with torch.no_grad():
            scores = probe.probe.score(data.features).numpy().astype(np.float64) if len(data.cues) else np.zeros(0)
        rows = [data.problems[index[i]] for i in ids]
        cues = [[data.cues[j] for j in groups[index[i]]] for i in ids]
        if loss == "answer-change":  # agreement with the reference run's answer; the reference agrees with itself
            labels = [[same_answer(reference_answer[i], _forced(c, name)) for c in cs] for i, cs in zip(ids, cues)]
            full = [True] * len(ids) if setting is None else [
                same_answer(reference_answer[i], _answer(r, f"problem {i!r} of {name}")) for i, r in zip(ids, rows)
            ]
        else:
            labels = [[bool(c["forced_correct"]) for c in cs] for cs in cues]
            full = [bool(r["full_correct"]) for r in rows]
        table = CueTable.from_lists(
            [[float(scores[j]) for j in groups[index[i]]] for i in ids],
            labels,
            full,
            cue_tokens=[[int(c["thinking_tokens_before"]) for c in cs] for cs in cues],
            full_tokens=[int(r["thinking_tokens"]) for r in rows],
        )
        layers = np.array([float(r.get("layers_per_token", data.meta["fingerprint"]["num_layers"])) for r in rows])
        per_cue_layers = np.repeat(layers, [len(cs) for cs in cues])
        exit_tokens = np.array([c["thinking_tokens_before"] + c["forced_tokens"] for cs in cues for c in cs], dtype=np.float64)
        arms.append(
            DepthArm(
                name=name,
                table=table,
                cue_cost=run_flops(model_config, exit_tokens, per_cue_layers),
                end_cost=run_flops(model_config, np.array([r["total_tokens"] for r in rows]), layers),
                layer_exit=setting,
                mean_layers=float(layers.mean()),
            )
        )
    off = arms[names.index("off")]
    return arms, off.table.full_correct.copy(), off.end_cost.copy(), ids


def reference_decode(folders: Sequence[str | os.PathLike[str]]) -> dict[str, Any] | None:
    """The decoding settings the calibration runs used (checked equal across folders by `load_arms`)."""
    return load_cue_data(folders[0]).meta.get("decode")


def joint_evidence(arms: Sequence[DepthArm], reference_correct: np.ndarray, reference_cost: np.ndarray) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {"reference_correct": reference_correct, "reference_cost": reference_cost}
    for k, arm in enumerate(arms):
        out.update(table_arrays(arm.table, f"arm{k}/"))
        out[f"arm{k}/cue_cost"] = arm.cue_cost
        out[f"arm{k}/end_cost"] = arm.end_cost
    return out


def fit_joint_artifact(
    probe: ProbeArtifact,
    folders: Sequence[str | os.PathLike[str]],
    model_config: Any,
    epsilon: float,
    delta: float = 0.1,
    *,
    source: str | None = None,
    only: str | None = None,
    loss: str = "accuracy-drop",
) -> tuple[ProbeArtifact, JointCalibration, list[DepthArm]]:
    """The jointly calibrated artifact, with `loss` "accuracy-drop" (graded against gold) or "answer-change"."""
    arms, reference_correct, reference_cost, ids = load_arms(probe, folders, model_config, loss)
    cal = calibrate_joint(arms, reference_correct, reference_cost, epsilon, delta, only=only)
    if loss == "answer-change":
        cal = dataclasses.replace(cal, guarantee=joint_guarantee(cal))
    calibration = {
        "mode": "joint",
        "loss": loss,
        "gold_read": all(gold_read(load_cue_data(f).meta) for f in folders),
        "threshold": cal.threshold,
        "epsilon": cal.epsilon,
        "alpha": None,
        "delta": cal.delta,
        "p_value": cal.p_value,
        "only": cal.only,
        "arm": cal.arm,
        "layer_exit": cal.layer_exit,
        "n_problems": cal.n_problems,
        "harm_rate": cal.harm_rate,
        "compute_saved": cal.compute_saved,
        "arms": [a.to_json() for a in cal.arms],
        "guarantee": cal.guarantee,
        "method": cal.method,
    }
    artifact = ProbeArtifact(
        probe=probe.probe,
        features=probe.features,
        fingerprint=probe.fingerprint,
        cues=probe.cues,
        thinking_format=probe.thinking_format,
        exit_semantics=probe.exit_semantics,
        layer_exit=cal.layer_exit,
        calibration=calibration,
        corpus={"data": [str(f) for f in folders], "problems": [ids[0], ids[-1]], "n": len(ids), "probe": source,
                "decode": reference_decode(folders),
                "probe_corpus": probe.corpus},
        metrics={"calibration_problems": joint_metrics(cal, arms, reference_correct, probe.fingerprint["num_layers"], loss)},
        evidence=joint_evidence(arms, reference_correct, reference_cost),
    )
    return artifact, cal, arms


def joint_metrics(
    cal: JointCalibration, arms: Sequence[DepthArm], reference_correct: np.ndarray, num_layers: int,
    loss: str = "accuracy-drop",
) -> dict[str, Any]:
    """What the chosen pair does on the calibration problems: accuracy (answer-change: the rate of changed
    answers), tokens, layers and FLOPs against neither exit."""
    if cal.arm is None:
        return {}
    arm = next(a for a in arms if a.name == cal.arm)
    both = evaluate(cal.threshold, arm.table)  # the arm's own runs: accuracy and tokens with both exits on
    reference_tokens = next(a for a in arms if a.layer_exit is None).table.full_tokens
    if loss == "answer-change":
        outcome = {"answer_change_rate": cal.harm_rate}
    else:
        outcome = {"accuracy_neither": float(reference_correct.mean()), "accuracy_both": both["accuracy_controlled"],
                   "harm_rate": cal.harm_rate}
    return {
        **outcome,
        "exit_rate": both["exit_rate"],
        "thinking_tokens_saved_pct": 100.0 * (1 - both["thinking_tokens_controlled"] / max(reference_tokens.sum(), 1)),
        "compute_saved_pct": 100.0 * cal.compute_saved,
        "layers_per_token": arm.mean_layers,
        "depth_saved_pct": None if arm.mean_layers is None else 100.0 * (1 - arm.mean_layers / num_layers),
    }


def replot_joint(folder: str | os.PathLike[str]) -> Path:
    """Redraw `joint.png` of the joint artifact in `folder` from its evidence; returns its path.

    The calibration is recomputed from the evidence with the card's levels (as `cotexit verify` does) and
    must choose the card's pair; nothing sealed is written.
    """
    from cotexit.calibration.plots import joint_plot
    from cotexit.certificates.verify import joint_arms

    artifact = ProbeArtifact.load(folder)
    cal = artifact.calibration
    if cal.get("mode") != "joint" or artifact.evidence is None:
        raise ValueError(f"{folder} is not a joint artifact with evidence (made by `cotexit calibrate-joint`)")
    evidence = artifact.evidence
    arms = joint_arms(cal, evidence)
    correct, cost = evidence["reference_correct"].astype(bool), evidence["reference_cost"]
    again = calibrate_joint(
        arms, correct, cost, cal["epsilon"], cal["delta"], p_value_kind=cal["p_value"], only=cal.get("only")
    )
    if again.arm != cal["arm"] or again.threshold != cal["threshold"]:
        raise ValueError(
            f"{folder}: its evidence certifies {again.arm!r} at {again.threshold!r}, the card says {cal['arm']!r} at "
            f"{cal['threshold']!r}; `cotexit verify {folder}` for details"
        )
    return joint_plot(arms, correct, cost, again, Path(folder) / "joint.png")
