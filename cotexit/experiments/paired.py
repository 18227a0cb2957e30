"""Paired runs: each problem decoded plainly and with exits, same seed, same process.

Owns `Treatment` (what the treated run adds: exit policies for the length
exit, a step engine for the depth exit), `run_pair` (one batch both ways) and
`paired_summary` (the savings, the accuracy cost and how often the answer
changed, over result rows; rows of prompts without gold answers have no
accuracy, only the change). The plain run is the reference for accuracy,
answers, tokens, token disagreement and wall time; the treated run is what
the result line reports first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cotexit.benchmarks.grading import answers_differ, same_answer
from cotexit.depth.forced import forced_disagreement
from cotexit.depth.propagate import PropagateForward
from cotexit.depth.stats import DepthStats
from cotexit.engines.backends import open_engine
from cotexit.engines.decoding import DecodeConfig
from cotexit.experiments.live_check import live_check
from cotexit.controller.policies import ExitPolicy
from cotexit.controller.rows import RowResult
from cotexit.models.flops import block_flops, full_token_flops, head_flops


@dataclass
class Treatment:
    """The exits of the treated run. Factories are called once per run."""

    name: str
    settings: dict[str, Any]
    policies: Sequence[ExitPolicy] = ()
    engine: Callable[[], Any] | None = None  # -> a step_forward with `.stats` (DepthStats)
    guarantee: dict[str, Any] = field(default_factory=dict)
    capture: Any = None  # CaptureConfig the policies need
    shift_reference: Any = None  # (N,) the probe's first-cue scores on its calibration problems, for the shift check
    settings_shift: str | None = None  # how this run's decoding or cues differ from the probe's calibration runs


@dataclass
class PairedBatch:
    full: list[RowResult]
    treated: list[RowResult]
    full_s: float
    treated_s: float
    depth: dict[str, Any] | None
    forced: Any = None  # propagate mode: ForcedDisagreement of a fresh engine reading the full run's text


def run_pair(
    lm: Any,
    decode: DecodeConfig,
    cues: Any,
    treatment: Treatment,
    prompts: list[str],
    keys: list[str],
    backend: str = "hf",
    engine_options: Any = None,
) -> PairedBatch:
    """Decode `prompts` plainly, then with the treatment, on `backend`; returns both and the wall time of each."""
    with open_engine(backend, lm, decode, cues, engine_options=engine_options) as plain:
        began = time.perf_counter()
        full = plain(prompts, keys)
        full_s = time.perf_counter() - began

    engine = treatment.engine() if treatment.engine is not None else None
    options = dict(policies=treatment.policies, capture=treatment.capture, step_forward=engine, engine_options=engine_options)
    with open_engine(backend, lm, decode, cues, **options) as decoder:
        began = time.perf_counter()
        treated = decoder(prompts, keys)
        treated_s = time.perf_counter() - began
    depth = None
    if engine is not None:
        depth = engine.stats.to_json()
        if getattr(engine, "policy", None) is not None:  # exact mode: what its online draft policy measured
            depth["draft_policy"] = engine.policy.to_json()
        depth["flops"] = _treated_flops(lm.model.config, engine.stats, treated)
    forced = None
    if isinstance(engine, PropagateForward):  # what calibrate-depth bounds; an untimed extra pass
        ids = [lm.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
        forced = forced_disagreement(lm.model, treatment.engine(), ids, [r.token_ids for r in full], pad)
    return PairedBatch(full, treated, full_s, treated_s, depth, forced)


def run_flops(config: Any, rows: Sequence[RowResult]) -> float:
    """Estimated FLOPs of decoding `rows` with the full stack: generated and trial tokens, prefill excluded."""
    total = 0.0
    for row in rows:
        context = row.prompt_tokens + row.total_tokens / 2
        total += (row.total_tokens + row.trial_tokens) * full_token_flops(config, int(context))
    return total


def _treated_flops(config: Any, stats: DepthStats, rows: Sequence[RowResult]) -> float:
    tokens = sum(r.total_tokens for r in rows) or 1
    context = sum(r.prompt_tokens + r.total_tokens / 2 for r in rows) / max(len(rows), 1)
    attention, mlp = block_flops(config, int(context))
    per_run = stats.blocks_run * (attention + mlp) + stats.blocks_propagated * attention
    per_run += (stats.head_evals + stats.tokens) * head_flops(config)
    return per_run * tokens / max(stats.tokens, 1)  # scale counted steps to the rows' tokens


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def shift_summary(rows: list[dict[str, Any]], reference: Any, settings: str | None = None) -> dict[str, Any]:
    """The shift check (`cotexit.calibration.shift`): this run's first-cue scores against the calibration's, and
    `settings`, how its decoding or cues differ from the calibration's (None: they do not)."""
    from cotexit.calibration.shift import shift_check

    first = [r["probe_scores"][0] for r in rows if r.get("probe_scores")]
    scores = shift_check(reference, first).to_json()
    messages = [m for m in (settings, scores["message"] if scores["shifted"] else None) if m]
    return {
        "shifted": bool(messages),
        "message": "; ".join(messages) or scores["message"],
        "settings": settings,
        "scores": scores,
    }


def paired_summary(
    rows: list[dict[str, Any]], guarantee: dict[str, Any], shift_reference: Any = None, settings_shift: str | None = None
) -> dict[str, Any]:
    """Length and depth savings over result lines that carry a `full` block.

    `empirical.answer_change_events` counts the problems whose answer with the exits is not the plain run's
    (`same_answer`: what the answer-change mode bounds); the accuracy entries need gold answers and are left out
    for rows without them."""
    n = len(rows)
    if n == 0:
        return {}
    graded = all(r["correct"] is not None and r["full"]["correct"] is not None for r in rows)
    think_full = sum(r["full"]["thinking_tokens"] for r in rows)
    think_exit = sum(r["thinking_tokens"] for r in rows)
    stopped = [r for r in rows if r["exit"] is not None]
    changes = sum(not same_answer(r["full"]["prediction"], r["prediction"]) for r in rows)
    out: dict[str, Any] = {
        "mean_thinking_tokens_full": think_full / n,
        "mean_thinking_tokens_exit": think_exit / n,
        "tokens_saved_pct": 100.0 * (1 - think_exit / think_full) if think_full else 0.0,
        "total_tokens_saved_pct": 100.0
        * (1 - sum(r["total_tokens"] for r in rows) / max(sum(r["full"]["total_tokens"] for r in rows), 1)),
        "exit_rate": len(stopped) / n,
        "mean_trial_tokens_exit": sum(r.get("trial_tokens", 0) for r in rows) / n,
        "cost_tokens_saved_pct": 100.0
        * (1 - sum(r["total_tokens"] + r.get("trial_tokens", 0) for r in rows) / max(sum(r["full"]["total_tokens"] for r in rows), 1)),
        "answer_change_rate": changes / n,
        "guarantee": guarantee,
        "empirical": {"answer_change_events": {"rate": changes / n, "ci95": wilson(changes, n), "n": n}},
    }
    if graded:
        full_right = sum(r["full"]["correct"] for r in rows)
        exit_right = sum(r["correct"] for r in rows)
        drops = sum(r["full"]["correct"] and not r["correct"] for r in rows)
        wrong_stops = sum(not r["correct"] for r in stopped)
        out |= {
            "accuracy_full": full_right / n,
            "accuracy_exit": exit_right / n,
            "accuracy_drop": (full_right - exit_right) / n,
        }
        out["empirical"] |= {
            "accuracy_drop_events": {"rate": drops / n, "ci95": wilson(drops, n), "n": n},
            "wrong_given_stop": {
                "rate": wrong_stops / len(stopped) if stopped else None,
                "ci95": wilson(wrong_stops, len(stopped)),
                "n": len(stopped),
            },
        }
    if shift_reference is not None:
        out["shift_check"] = shift_summary(rows, shift_reference, settings_shift)
    if (live := live_check(rows, guarantee)) is not None:  # the anytime test of the bound over the rows in order
        out["live_check"] = live
    batches = {r["timings"]["batch"]: r for r in rows}.values()
    full_s = sum(b["timings"]["full_batch_s"] for b in batches)
    treated_s = sum(b["timings"]["treated_batch_s"] for b in batches)
    out["wall_s_full"], out["wall_s_exit"] = full_s, treated_s
    out["wall_speedup"] = full_s / treated_s if treated_s else None
    depth = [b["depth"] for b in batches if b.get("depth")]
    full_flops = sum(b["timings"]["full_batch_flops"] for b in batches)
    if depth:
        tokens = sum(d["tokens"] for d in depth)
        layer_sum = sum(d["exit_layer_sum"] for d in depth)
        num_layers = depth[0]["num_layers"]
        drafted = sum(d["drafted"] for d in depth)
        drafted_context = sum(d.get("drafted_context", 0) for d in depth)  # rows written before context drafts: 0
        accepted_context = sum(d.get("accepted_context", 0) for d in depth)
        differing = sum(r["full"]["differing_tokens"] for r in rows)
        compared = sum(r["full"]["compared_tokens"] for r in rows)
        treated_flops = sum(d["flops"] for d in depth)
        out |= {
            "mean_layers_per_token": layer_sum / tokens if tokens else float(num_layers),
            "depth_saved_pct": 100.0 * (1 - layer_sum / (tokens * num_layers)) if tokens else 0.0,
            "token_disagreement": differing / compared if compared else 0.0,
            # the mean of per-problem rates: what `calibrate-depth` bounds
            "token_disagreement_per_problem": sum(
                r["full"]["differing_tokens"] / r["full"]["compared_tokens"] if r["full"]["compared_tokens"] else 0.0
                for r in rows
            ) / n,
            "acceptance_rate": sum(d["accepted"] for d in depth) / drafted if drafted else None,
            # exact mode, per drafter: tokens proposed and accepted from the context (the rest came from the layer)
            "drafted_context": drafted_context,
            "accepted_context": accepted_context,
            "drafted_layer": drafted - drafted_context,
            "accepted_layer": sum(d["accepted"] for d in depth) - accepted_context,
            "same_text_as_full": sum(r["full"]["same_tokens"] for r in rows) / n,
            # what `calibrate-depth --method answer` bounds
            "answer_changed": sum(answers_differ(r["full"]["prediction"], r["prediction"]) for r in rows) / n,
            "compute_saved_pct": 100.0 * (1 - treated_flops / full_flops) if full_flops else 0.0,
        }
        forced = [r["full"] for r in rows if "forced_compared" in r["full"]]
        if forced:  # propagate mode: the engine reading the full run's text (what calibrate-depth bounds)
            out["token_disagreement_on_full_text"] = sum(
                f["forced_differing"] / f["forced_compared"] if f["forced_compared"] else 0.0 for f in forced
            ) / len(forced)
    else:
        treated_flops = sum(b["timings"]["treated_batch_flops"] for b in batches)
        out["compute_saved_pct"] = 100.0 * (1 - treated_flops / full_flops) if full_flops else 0.0
    return out
