"""Calibrating the layer-exit threshold: token disagreement with the full model <= epsilon_tok, w.p. 1 - delta.

Owns `DepthTable` (per generated token: each exit point's confidence and
whether its top-1 equals the full model's), `depth_table` (built from the
model's own greedy runs, capturing the exit points' states during decoding:
no second forward pass) and `calibrate_depth`. The rule is the engine's:
a token exits at the first exit point whose confidence >= lambda. Its loss is
1 if that point's top-1 differs from the full model's. Tokens of one
sequence are dependent, so the unit is the sequence: L_i(lambda) is sequence
i's disagreement rate (in [0, 1]); Learn-then-Test with Hoeffding-Bentkus
p-values (valid for bounded losses) and fixed-sequence testing from strict to
lenient picks the most lenient lambda with E[L] <= epsilon_tok certified.
The table is teacher-forced on full-model states: in `propagate` mode earlier
exits perturb later keys and values, which this does not see, and the
disagreement the engine then shows can be far above epsilon_tok;
`cotexit.depth.onpolicy` calibrates on the engine's own output instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cotexit.calibration.ltt import fixed_sequence
from cotexit.certificates.digest import refuse_if_changed, seal
from cotexit.certificates.evidence import EVIDENCE, save_evidence
from cotexit.certificates.verify import depth_from_sums
from cotexit.calibration.pvalues import hoeffding_bentkus_p_value, min_samples
from cotexit.depth.config import LayerExitConfig
from cotexit.depth.stack import LayerStack
from cotexit.depth.confidence import confidence
from cotexit.controller import CaptureConfig
from cotexit.engines.decoding import DecodeConfig
from cotexit.engines.loop import Decoder
from cotexit.models.loading import LoadedModel

CARD_VERSION = 2  # 2: evidence.safetensors and a sealed certificate


@dataclass
class DepthTable:
    points: tuple[int, ...]  # exit points (layers)
    num_layers: int
    confidence: np.ndarray  # (T, P) confidence at each exit point
    agree: np.ndarray  # (T, P) bool: that point's top-1 equals the full model's
    sequence: np.ndarray  # (T,) sequence index of each token

    @property
    def n_sequences(self) -> int:
        return int(self.sequence.max()) + 1 if len(self.sequence) else 0

    def exits(self, lam: float) -> tuple[np.ndarray, np.ndarray]:
        """(exit layer (T,), disagreement (T,) bool) when tokens exit at the first point with confidence >= lam."""
        passed = self.confidence >= lam  # (T, P)
        any_pass = passed.any(axis=1)
        first = np.where(any_pass, passed.argmax(axis=1), -1)  # (T,)
        layers = np.where(any_pass, np.asarray(self.points)[np.maximum(first, 0)], self.num_layers)
        wrong = np.where(any_pass, ~self.agree[np.arange(len(first)), np.maximum(first, 0)], False)
        return layers, wrong


@torch.inference_mode()
def depth_table(
    lm: LoadedModel,
    prompts: Sequence[str],
    config: LayerExitConfig,
    decode: DecodeConfig,
    batch_size: int = 8,
    progress: Callable[[int], None] | None = None,
) -> DepthTable:
    points = config.exit_points(lm.num_layers)
    n = lm.num_layers
    capture = CaptureConfig(layers=(*points, n), where="all")
    decoder = Decoder(lm.model, lm.tokenizer, lm.fmt, decode, capture=capture)
    stack, head = LayerStack(lm.model), lm.model.lm_head.weight
    conf_rows, agree, sequence = [], [], []
    for start in range(0, len(prompts), batch_size):
        batch = list(prompts[start : start + batch_size])
        rows = decoder.generate(batch, [str(i) for i in range(start, start + len(batch))])
        for offset, row in enumerate(rows):
            indices = sorted(row.captured)
            if not indices:
                continue
            final = torch.stack([row.captured[i][n] for i in indices])  # (T, H), already normed
            final_top = lm.model.lm_head(final.to(head.dtype)).argmax(-1)  # (T,)
            conf_cols, agree_cols, previous = [], [], None
            for p in points:
                states = torch.stack([row.captured[i][p] for i in indices]).to(head.dtype)  # (T, H)
                conf, top = confidence(stack, states, config.measure, previous)  # the engines' own measure
                previous = states
                conf_cols.append(conf.float().cpu().numpy())
                agree_cols.append((top == final_top).cpu().numpy())
            conf_rows.append(np.stack(conf_cols, axis=1))
            agree.append(np.stack(agree_cols, axis=1))
            sequence.append(np.full(len(indices), start + offset))
        if progress is not None:
            progress(min(start + batch_size, len(prompts)))
    seq = np.concatenate(sequence) if sequence else np.zeros(0, dtype=np.int64)
    _, seq = np.unique(seq, return_inverse=True)
    return DepthTable(points, n, np.concatenate(conf_rows), np.concatenate(agree), seq)


@dataclass(frozen=True)
class DepthCalibration:
    threshold: float | None  # None: no lambda certified; the engine must not exit
    epsilon_tok: float
    delta: float
    n_sequences: int
    n_tokens: int
    points: tuple[int, ...]
    measure: str
    guarantee: str
    candidates: tuple[float, ...]
    risks: tuple[float, ...]
    p_values: tuple[float, ...]
    mean_layers: tuple[float, ...]
    method: str = "full-states"  # or "engine", "free-run": see cotexit.depth.onpolicy


def calibrate_depth(table: DepthTable, measure: str, epsilon_tok: float, delta: float = 0.1) -> DepthCalibration:
    n = table.n_sequences
    needed = min_samples(epsilon_tok, delta)
    if n < needed:
        raise ValueError(
            f"{n} calibration sequences cannot certify epsilon={epsilon_tok} at delta={delta}; "
            f"at least {needed} are needed"
        )
    values = np.unique(table.confidence)
    grid = np.unique(np.quantile(values, np.linspace(0, 1, 201))) if len(values) > 201 else values
    grid = grid[::-1]  # strict to lenient
    risks, p_values, layers = [], [], []
    counts = np.bincount(table.sequence, minlength=n).astype(np.float64)
    for lam in grid:
        exit_layers, wrong = table.exits(float(lam))
        per_sequence = np.bincount(table.sequence, weights=wrong.astype(np.float64), minlength=n) / np.maximum(counts, 1)
        risks.append(float(per_sequence.mean()))
        p_values.append(float(hoeffding_bentkus_p_value(per_sequence.sum(), n, epsilon_tok)))
        layers.append(float(exit_layers.mean()))
    rejected = fixed_sequence(np.asarray(p_values), delta)
    threshold = float(grid[rejected - 1]) if rejected else None
    guarantee = (
        f"with probability >= {1 - delta:.2f} over the calibration draw, the expected per-sequence rate of tokens "
        f"whose early-exit top-1 differs from the full model's is <= {epsilon_tok} (teacher-forced on full-model "
        f"states; Learn-then-Test, Hoeffding-Bentkus, fixed-sequence; {n} sequences)"
    )
    return DepthCalibration(
        threshold, epsilon_tok, delta, n, int(len(table.sequence)), table.points, measure, guarantee,
        tuple(float(g) for g in grid), tuple(risks), tuple(p_values), tuple(layers),
    )


def depth_evidence(calibration: DepthCalibration) -> dict[str, np.ndarray]:
    """The sufficient statistics of a depth calibration's p-values: per tested candidate, the loss sum over n units."""
    n = calibration.n_sequences
    return {
        "candidates": np.asarray(calibration.candidates, dtype=np.float64),
        "loss_sums": np.asarray(calibration.risks, dtype=np.float64) * n,
        "n_units": np.asarray([n], dtype=np.int64),
        "mean_layers": np.asarray(calibration.mean_layers, dtype=np.float64),
    }


def save_depth_artifact(
    calibration: DepthCalibration, config: LayerExitConfig, fingerprint: dict[str, Any], folder: str | os.PathLike[str], corpus: dict[str, Any]
) -> Path:
    """Write card.json and evidence.safetensors, sealed (`cotexit.certificates`), staged so no half-written card appears."""
    card = {
        "card_version": CARD_VERSION,
        "kind": "layer-exit",
        "model": fingerprint,
        "layer_exit": config.to_json(),
        "calibration": {**asdict(calibration), "p_value": "hoeffding-bentkus"},
        "never_exit": calibration.threshold is None,
        "corpus": corpus,
    }
    return write_depth_card(card, depth_evidence(calibration), folder)


def write_depth_card(card: dict[str, Any], evidence: dict[str, np.ndarray], folder: str | os.PathLike[str]) -> Path:
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    save_evidence(evidence, target / f".{EVIDENCE}.tmp")
    (target / f".{EVIDENCE}.tmp").replace(target / EVIDENCE)
    card = seal(json.loads(json.dumps(card, default=float)), {EVIDENCE: target / EVIDENCE})
    tmp = target / "card.json.tmp"
    tmp.write_text(json.dumps(card, indent=2) + "\n")
    tmp.replace(target / "card.json")
    return target


def load_depth_artifact(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The card of a `calibrate-depth` artifact; refused if it was edited after calibration.

    Version 1 cards (before certificates) load without one; `cotexit verify --upgrade` seals them
    from the statistics they recorded.
    """
    path = Path(folder) / "card.json"
    if not path.is_file():
        raise ValueError(f"{folder} is not a layer-exit artifact (no card.json)")
    try:
        card = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"corrupted layer-exit artifact {folder}: {exc}") from exc
    if card.get("card_version") not in (1, CARD_VERSION) or card.get("kind") != "layer-exit":
        raise ValueError(f"{folder} is not a layer-exit artifact this cotexit reads (card_version {CARD_VERSION})")
    refuse_if_changed(
        card, {EVIDENCE: Path(folder) / EVIDENCE}, f"layer-exit artifact {folder}", f"`cotexit verify {folder}` for details"
    )
    return card


def upgrade_depth_card(folder: str | os.PathLike[str]) -> Path:
    """Seal a version 1 card (before certificates) from the statistics it recorded.

    Its per-candidate mean losses times n are the loss sums its Hoeffding-Bentkus p-values came from;
    the upgrade recomputes those p-values and the fixed-sequence choice and refuses a card they do not
    reproduce (edited, or from another procedure).
    """
    card = load_depth_artifact(folder)
    if card["card_version"] != 1:
        raise ValueError(f"{folder} is already a version {card['card_version']} card")
    saved = card["calibration"]
    calibration = DepthCalibration(**{**saved, "points": tuple(saved["points"]),
                                      **{k: tuple(saved[k]) for k in ("candidates", "risks", "p_values", "mean_layers")}})
    evidence = depth_evidence(calibration)
    p, again = depth_from_sums(evidence, calibration.epsilon_tok, calibration.delta)
    if not np.allclose(p, calibration.p_values, rtol=1e-9, atol=1e-15) or again != calibration.threshold:
        raise ValueError(
            f"{folder}: its recorded statistics do not reproduce its p-values and threshold "
            f"(threshold {calibration.threshold}, recomputed {again}); it cannot be sealed"
        )
    upgraded = {**card, "card_version": CARD_VERSION, "calibration": {**saved, "p_value": "hoeffding-bentkus"}}
    return write_depth_card(upgraded, evidence, folder)
