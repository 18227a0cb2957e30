"""`verify`: re-check an artifact's certificate from its own files.

Owns `verify` and `VerifyReport`. For a probe, a layer-exit threshold or a
joint (probe + depth) calibration it checks, in order:
1. the card has a certificate and its evidence file is readable;
2. the digests: every file and card field as sealed at calibration (`digest`);
3. the statistics: the p-values and the chosen threshold recomputed from the
   evidence with the card's own procedure and levels, compared with the card.
Step 3 catches an edited threshold or level even when the digests were
recomputed to match it. Nothing here loads a model or trusts the card's
curve: only the evidence and the procedure's parameters are read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cotexit.calibration.data import CueTable
from cotexit.calibration.joint import DepthArm, calibrate_joint
from cotexit.calibration.ltt import fixed_sequence
from cotexit.calibration.modes import calibrate
from cotexit.calibration.pvalues import hoeffding_bentkus_p_value
from cotexit.calibration.result import Calibration, level_name
from cotexit.calibration.settings import calibrate_over_settings
from cotexit.certificates.digest import CERTIFICATE, CertificateError, check_certificate
from cotexit.certificates.evidence import EVIDENCE, load_evidence, setting_tables, table_from_arrays

CARD, WEIGHTS = "card.json", "probe.safetensors"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class VerifyReport:
    folder: str
    kind: str  # probe, joint, layer-exit, or unknown
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok

    def to_json(self) -> dict[str, Any]:
        return {"folder": self.folder, "kind": self.kind, "ok": self.ok, "checks": [c.__dict__ for c in self.checks]}


def _same(a: float | None, b: float | None) -> bool:
    """Exactly the same threshold (a recomputation is deterministic), None meaning never exit."""
    return a is None and b is None if a is None or b is None else float(a) == float(b)


def _fmt(x: float | None) -> str:
    return "never exit (None)" if x is None else f"{x:.10g}"


def kind_of(card: dict[str, Any]) -> str:
    if card.get("kind") == "layer-exit":
        return "layer-exit"
    return "joint" if (card.get("calibration") or {}).get("mode") == "joint" else "probe"


def verify(folder: str | Path) -> VerifyReport:
    path = Path(folder)
    report = VerifyReport(str(path), "unknown")
    try:
        card = json.loads((path / CARD).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        report.add("card", False, f"cannot read {path / CARD}: {exc}")
        return report
    report.kind = kind_of(card)
    if card.get(CERTIFICATE) is None:
        report.add(
            "certificate", False,
            f"no certificate: card version {card.get('card_version')} predates sealed evidence; re-run the "
            "calibration (or `cotexit verify --upgrade` for a layer-exit card)",
        )
        return report
    files = {EVIDENCE: path / EVIDENCE}
    if report.kind != "layer-exit":
        files[WEIGHTS] = path / WEIGHTS
    try:
        check_certificate(card, files)
        report.add("digests", True, f"{len(card[CERTIFICATE]['fields'])} card fields and {len(files)} file(s) as sealed")
    except CertificateError as exc:
        report.add("digests", False, str(exc))
    try:
        evidence = load_evidence(path / EVIDENCE)
    except ValueError as exc:
        report.add("evidence", False, str(exc))
        return report
    calibration = card.get("calibration") or {}
    try:
        {"probe": _probe, "joint": _joint, "layer-exit": _depth}[report.kind](calibration, evidence, report)
    except (KeyError, TypeError, ValueError) as exc:
        report.add("recompute", False, f"the evidence or the card's procedure is unusable: {exc!r}")
    return report


def evidence_calibration(
    cal: dict[str, Any], evidence: dict[str, np.ndarray]
) -> tuple[Callable[[float], Calibration], list[CueTable]]:
    """(recompute, tables) for a probe card's calibration record `cal` and its evidence: `recompute(level)` chooses
    the threshold again at that level of the card's mode, delta and p-values, from `tables` (the calibration
    problems; one table per decoding setting when one threshold was certified over several)."""
    mode, delta, kind = cal["mode"], cal["delta"], cal.get("p_value", "binomial")
    if cal.get("settings"):  # one threshold over several decoding settings (`calibration.settings`)
        by_setting = setting_tables(evidence, [s["name"] for s in cal["settings"]])

        def recompute(level: float) -> Calibration:
            return calibrate_over_settings(by_setting, level, delta, p_value_kind=kind, mode=mode).calibration

        return recompute, list(by_setting.values())
    table = table_from_arrays(evidence)

    def recompute_one(level: float) -> Calibration:
        return calibrate(table, mode, delta=delta, p_value=kind, **{level_name(mode): level})

    return recompute_one, [table]


def _probe(cal: dict[str, Any], evidence: dict[str, np.ndarray], report: VerifyReport) -> None:
    delta, name = cal["delta"], level_name(cal["mode"])
    recompute, _ = evidence_calibration(cal, evidence)
    again = recompute(cal[name])
    report.add("calibration.n_problems", again.n_problems == cal["n_problems"],
               f"card {cal['n_problems']}, evidence {again.n_problems}")
    settings = f" in each of {len(cal['settings'])} settings" if cal.get("settings") else ""
    report.add(
        "calibration.threshold", _same(again.threshold, cal["threshold"]),
        f"card {_fmt(cal['threshold'])}; the evidence certifies {_fmt(again.threshold)} at {name} {cal[name]}{settings}, "
        f"delta {delta} ({again.n_tested} hypotheses tested)",
    )
    bad = []
    for level, threshold in (cal.get("thresholds_by_level") or {}).items():
        other = recompute(float(level)).threshold
        if not _same(other, threshold):
            bad.append(f"{level}: card {_fmt(threshold)}, evidence {_fmt(other)}")
    if cal.get("thresholds_by_level"):
        report.add("calibration.thresholds_by_level", not bad,
                   "; ".join(bad) or f"{len(cal['thresholds_by_level'])} levels recomputed")


def joint_arms(cal: dict[str, Any], evidence: dict[str, np.ndarray]) -> list[DepthArm]:
    return [
        DepthArm(
            name=arm["name"],
            table=table_from_arrays(evidence, f"arm{k}/"),
            cue_cost=evidence[f"arm{k}/cue_cost"],
            end_cost=evidence[f"arm{k}/end_cost"],
            layer_exit=arm["layer_exit"],
        )
        for k, arm in enumerate(cal["arms"])
    ]


def _joint(cal: dict[str, Any], evidence: dict[str, np.ndarray], report: VerifyReport) -> None:
    again = calibrate_joint(
        joint_arms(cal, evidence), evidence["reference_correct"].astype(bool), evidence["reference_cost"],
        cal["epsilon"], cal["delta"], p_value_kind=cal["p_value"], only=cal.get("only"),
    )
    report.add("calibration.arm", again.arm == cal["arm"], f"card {cal['arm']!r}, evidence {again.arm!r}")
    report.add(
        "calibration.threshold", _same(again.threshold, cal["threshold"]),
        f"card {_fmt(cal['threshold'])}; the evidence certifies {_fmt(again.threshold)} with depth setting "
        f"{again.arm!r} at epsilon {cal['epsilon']}, delta {cal['delta']}",
    )
    report.add("calibration.layer_exit", again.layer_exit == cal["layer_exit"], "the chosen depth setting")


def depth_from_sums(evidence: dict[str, np.ndarray], epsilon: float, delta: float) -> tuple[np.ndarray, float | None]:
    """A layer-exit calibration from its sufficient statistics: each tested threshold's Hoeffding-Bentkus
    p-value (loss sum over n units) and the threshold fixed-sequence testing certifies (None: none)."""
    p = hoeffding_bentkus_p_value(evidence["loss_sums"], int(evidence["n_units"][0]), epsilon)
    k = fixed_sequence(p, delta)
    return p, float(evidence["candidates"][k - 1]) if k else None


def _depth(cal: dict[str, Any], evidence: dict[str, np.ndarray], report: VerifyReport) -> None:
    candidates, n = evidence["candidates"], int(evidence["n_units"][0])
    kind = cal.get("p_value", "hoeffding-bentkus")
    if kind != "hoeffding-bentkus":
        raise ValueError(f"layer-exit calibrations use Hoeffding-Bentkus p-values, the card says {kind!r}")
    target = cal["epsilon_tok"]
    p, threshold = depth_from_sums(evidence, target, cal["delta"])
    report.add("calibration.candidates", list(candidates) == list(cal["candidates"]),
               f"{len(candidates)} tested thresholds, strict to lenient")
    card_p = np.asarray(cal["p_values"], dtype=np.float64)
    same_p = card_p.shape == p.shape and np.allclose(p, card_p, rtol=1e-9, atol=1e-15)
    report.add("calibration.p_values", bool(same_p), "recomputed from the loss sums over "
               f"{n} units at epsilon {target}")
    report.add(
        "calibration.threshold", _same(threshold, cal["threshold"]),
        f"card {_fmt(cal['threshold'])}; the evidence certifies {_fmt(threshold)} at epsilon {target}, delta {cal['delta']}",
    )
