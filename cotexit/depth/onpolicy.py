"""Calibrating `propagate` mode on the engine itself: it runs at every threshold Learn-then-Test tests.

Owns `calibrate_depth_on_policy` and its default grid. The `full-states`
calibration of `cotexit.depth.calibrate` scores exit points on the full
model's own states; under propagation an early exit changes the keys and
values later tokens attend to, and its certificate says nothing about what
the engine then does. Here the loss of a calibration problem comes from the
engine. First the full model decodes each problem greedily. Then, per
threshold lambda, either
- `engine` (default): the engine reads that text with its own propagated
  cache, and the loss is the fraction of positions where its next-token
  prediction differs from the full model's (`cotexit.depth.forced`); or
- `free-run`: the engine generates freely, and the loss is the fraction of
  positions where its tokens differ from the full model's, compared position
  by position over their common length (`bench`'s `token_disagreement`);
  one early divergence shifts every later position, so this is far harsher;
- `answer`: the engine generates freely, and the loss is 1 when its final
  answer differs from the full model's (`bench`'s `answer_changed`): the
  risk that matters to a user, where a token-level bound does not protect
  accuracy. No gold answers are needed.
Problems are independent units (the engine's output for a row does not
depend on its batch-mates), losses are bounded in [0, 1], so
Hoeffding-Bentkus p-values are valid, and fixed-sequence testing over a grid
fixed in advance, from strict to lenient, stops at the first threshold it
cannot certify: only the thresholds tested cost a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import torch

from cotexit.benchmarks.grading import answers_differ, disagreement, predicted_answer
from cotexit.calibration.ltt import fixed_sequence
from cotexit.calibration.pvalues import hoeffding_bentkus_p_value, min_samples
from cotexit.depth.calibrate import DepthCalibration
from cotexit.depth.config import LayerExitConfig
from cotexit.depth.forced import forced_disagreement
from cotexit.depth.propagate import PropagateForward
from cotexit.controller import RowResult
from cotexit.engines.decoding import DecodeConfig
from cotexit.engines.loop import Decoder
from cotexit.models.loading import LoadedModel

# Strict to lenient. Fixed before seeing data, as Learn-then-Test requires.
DEFAULT_GRID: tuple[float, ...] = (
    0.9999, 0.9995, 0.999, 0.998, 0.995, 0.99, 0.98, 0.97, 0.95, 0.92, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5,
)

# (what is being decoded, problems done, problems in all)
Progress = Callable[[str, int, int], None]

METHODS = ("engine", "free-run", "answer")

_MEASURED = {
    "engine": "positions where the propagate engine, reading the full model's greedy text with its own propagated "
    "cache, predicts another next token than the full model",
    "free-run": "positions where the propagate engine's greedy tokens differ from full greedy decoding's, compared "
    "position by position over their common length (free run)",
    "answer": "problems whose final answer under the propagate engine (free run, greedy) differs from full greedy "
    "decoding's (normalised spelling; two spellings of one value count as a change)",
}


def check_grid(grid: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(g) for g in grid)
    if not values:
        raise ValueError("the threshold grid is empty")
    if any(not 0.0 <= g <= 1.0 for g in values):
        raise ValueError(f"grid thresholds must be in [0, 1], got {values}")
    if any(a <= b for a, b in zip(values, values[1:])):
        raise ValueError(f"the grid must go from strict to lenient (strictly decreasing), got {values}")
    return values


def answer_losses(full: Sequence[RowResult], treated: Sequence[RowResult]) -> np.ndarray:
    """(n,) 1.0 where the treated run's final answer differs from the full run's, else 0.0."""
    return np.array(
        [float(answers_differ(predicted_answer(a), predicted_answer(b))) for a, b in zip(full, treated, strict=True)]
    )


def sequence_losses(full: Sequence[RowResult], treated: Sequence[RowResult]) -> np.ndarray:
    """(n,) per-problem disagreement rate: differing positions / compared positions (0 when none compared)."""
    out = np.zeros(len(full))
    for i, (a, b) in enumerate(zip(full, treated, strict=True)):
        differing, compared = disagreement(a.token_ids, b.token_ids)
        out[i] = differing / compared if compared else 0.0
    return out


def _decode(
    lm: LoadedModel,
    prompts: Sequence[str],
    decode: DecodeConfig,
    batch_size: int,
    engine: PropagateForward | None,
    on_batch: Callable[[int], None],
) -> list[RowResult]:
    options = {"step_forward": engine} if engine is not None else {}
    decoder = Decoder(lm.model, lm.tokenizer, lm.fmt, decode, **options)
    rows: list[RowResult] = []
    for start in range(0, len(prompts), batch_size):
        batch = list(prompts[start : start + batch_size])
        rows.extend(decoder.generate(batch, [str(i) for i in range(start, start + len(batch))]))
        on_batch(len(rows))
    return rows


def fixed_sequence_ltt(
    grid: Sequence[float],
    evaluate: Callable[[float], tuple[np.ndarray, float]],
    epsilon: float,
    delta: float,
) -> tuple[float | None, list[float], list[float], list[float]]:
    """Learn-then-Test over `grid` (strict to lenient), evaluating lazily.

    `evaluate(lam)` returns (per-unit losses in [0, 1], mean layers per token).
    Returns (certified threshold or None, then per tested threshold: mean loss,
    Hoeffding-Bentkus p-value, mean layers). Stops at the first p-value above
    `delta`, so thresholds after it are never evaluated.
    """
    risks, p_values, layers = [], [], []
    for lam in check_grid(grid):
        losses, mean_layers = evaluate(lam)
        if losses.size and (losses.min() < 0 or losses.max() > 1):
            raise ValueError("losses must lie in [0, 1]")
        risks.append(float(losses.mean()))
        p_values.append(float(hoeffding_bentkus_p_value(losses.sum(), losses.size, epsilon)))
        layers.append(float(mean_layers))
        if p_values[-1] > delta:  # fixed-sequence testing stops at the first failure
            break
    rejected = fixed_sequence(np.asarray(p_values), delta)
    return (float(grid[rejected - 1]) if rejected else None), risks, p_values, layers


@torch.inference_mode()
def calibrate_depth_on_policy(
    lm: LoadedModel,
    prompts: Sequence[str],
    base: LayerExitConfig,
    epsilon_tok: float,
    delta: float = 0.1,
    decode: DecodeConfig | None = None,
    batch_size: int = 8,
    grid: Sequence[float] = DEFAULT_GRID,
    progress: Progress | None = None,
    method: str = "engine",
) -> DepthCalibration:
    """The most lenient grid threshold whose expected per-problem loss (see `method`) is certified <= `epsilon_tok`."""
    if method not in METHODS:
        raise ValueError(f"unknown on-policy method {method!r}; choose one of {', '.join(METHODS)}")
    if base.mode != "propagate":
        raise ValueError(f"on-policy depth calibration is for propagate mode, got {base.mode!r}")
    grid = check_grid(grid)
    decode = decode or DecodeConfig()
    if not decode.sampling.greedy:
        raise ValueError("on-policy depth calibration compares against full greedy decoding; use temperature 0")
    n = len(prompts)
    needed = min_samples(epsilon_tok, delta)
    if n < needed:
        raise ValueError(
            f"{n} calibration problems cannot certify epsilon={epsilon_tok} at delta={delta}; at least {needed} are needed"
        )
    report = progress or (lambda _what, _done, _total: None)
    full = _decode(lm, prompts, decode, batch_size, None, lambda done: report("full model", done, n))

    prompt_ids = [lm.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    pad_id = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0

    def evaluate(lam: float) -> tuple[np.ndarray, float]:
        engine = PropagateForward(lm.model, replace(base, thresholds=(lam,)))
        if method != "engine":
            rows = _decode(lm, prompts, decode, batch_size, engine, lambda done: report(f"threshold {lam:g}", done, n))
            losses = answer_losses(full, rows) if method == "answer" else sequence_losses(full, rows)
            return losses, engine.stats.mean_layers_per_token
        losses, layers, tokens = [], 0, 0
        for start in range(0, n, batch_size):
            end = min(start + batch_size, n)
            counts = forced_disagreement(
                lm.model, engine, prompt_ids[start:end], [r.token_ids for r in full[start:end]], pad_id
            )
            losses += counts.rates()
            layers, tokens = layers + sum(counts.layer_sum), tokens + sum(counts.compared)
            report(f"threshold {lam:g}", end, n)
        return np.asarray(losses), layers / tokens if tokens else float(lm.num_layers)

    threshold, risks, p_values, layers = fixed_sequence_ltt(grid, evaluate, epsilon_tok, delta)
    share = "fraction of" if method == "answer" else "per-problem fraction of"
    guarantee = (
        f"with probability >= {1 - delta:.2f} over the calibration draw, the expected {share} {_MEASURED[method]} "
        f"is <= {epsilon_tok} "
        f"(the engine run at each tested threshold; Learn-then-Test, Hoeffding-Bentkus, fixed-sequence over a preset "
        f"grid; {n} problems)"
    )
    return DepthCalibration(
        threshold, epsilon_tok, delta, n, sum(len(r.token_ids) for r in full), base.exit_points(lm.num_layers),
        base.measure, guarantee, grid[: len(risks)], tuple(risks), tuple(p_values), tuple(layers),
        method=method,
    )
