"""Collecting probe training and calibration data: labels from forced exits at every cue.

Owns `CollectConfig` and `run_collect`. Each problem runs to the end with the
benchmark's decoding settings. At every cue, as soon as it is confirmed, a
forced-answer trial from where an exit there would cut (the exit semantics'
cut: before the cue by default, after it with `keep-cue`) runs in a branch of
the cache, batched with the other new cues of that step; its answer is graded
against the gold one (`forced_correct`) and compared with the full run's final
answer (`forced_agrees`, `cotexit.benchmarks.grading.same_answer`: the label
of the `answer-change` mode). With a prompt file (`prompts`: the user's own
messages, verbatim, no answers) nothing is graded: `gold`, `full_correct` and
`forced_correct` are None and `meta.json` records `gold_read: false`.
The cue's hidden states (chosen layers) come from the decode's own forward.
On `backend="vllm"` each batch decodes to the end in vLLM (states from its
forward, through the engine's hooks) and then all its trials run in one
batched `generate()` from token ids: the same prefixes and forced text, the
same greedy answers, the same records. Batches are written as they finish
(`cotexit.probes.cuedata`), so an interrupted collection resumes where it
stopped (on the backend it began with).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from cotexit.benchmarks.extraction import last_boxed
from cotexit.benchmarks.grading import grade_answer, predicted_answer, same_answer
from cotexit.benchmarks.loading import data_provenance, load_problems
from cotexit.benchmarks.prompt_files import UserPrompt, check_source, load_prompts, prompts_provenance
from cotexit.benchmarks.prompts import user_message
from cotexit.benchmarks.records import Problem
from cotexit.benchmarks.provenance import provenance
from cotexit.benchmarks.suites import get_suite
from cotexit.depth.config import LayerExitConfig
from cotexit.depth.propagate import PropagateForward
from cotexit.controller.capture import CaptureConfig
from cotexit.controller.cues import CueConfig
from cotexit.controller.rows import RowState
from cotexit.controller.semantics import SEMANTICS, ExitSemantics
from cotexit.engines.decoding import DecodeConfig
from cotexit.engines.loop.decode import Decoder
from cotexit.controller.trials import ForcedAnswer, ForcedRequest
from cotexit.engines.loop.forced import forced_answers
from cotexit.models.loading import LoadedModel, chat_prompt, dtype_name
from cotexit.probes.cuedata import CueDataWriter
from cotexit.probes.features import FeatureSpec, cue_features


@dataclass(frozen=True)
class CollectConfig:
    suite: str | None  # a suite name or FILE.jsonl of problems with answers; None with `prompts`
    model: str
    split: str | None = None
    limit: int | None = None
    offset: int = 0  # skip the first `offset` problems of the split (collect problems offset+1 .. offset+limit)
    layers: tuple[int, ...] = ()
    batch_size: int = 8
    max_forced_tokens: int = 24
    budgets: tuple[int, ...] = ()  # also force an answer after this many thinking tokens (budget baseline)
    data_dir: str | None = None
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    cues: CueConfig = field(default_factory=CueConfig)
    # propagate-mode layer exit during collection, so a probe meant to run with depth exits on is fitted
    # and calibrated on the states and forced answers it will see
    layer_exit: LayerExitConfig | None = None
    exit_semantics: str = "before-cue"  # where the labels' forced exits cut (cotexit.controller.semantics)
    backend: str = "hf"  # the decode loop, or vLLM (cotexit.engines.vllm)
    prompts: str | None = None  # a JSON-lines file of the user's prompts, no answers (cotexit.benchmarks.prompt_files)

    def __post_init__(self) -> None:
        check_source(self.suite, self.prompts, self.split, self.data_dir)
        if self.exit_semantics not in SEMANTICS:
            raise ValueError(f"--exit-semantics must be one of {', '.join(SEMANTICS)}, got {self.exit_semantics!r}")
        if self.backend not in ("hf", "vllm"):
            raise ValueError(f"collect runs on --backend hf or vllm, not {self.backend!r}")
        if self.backend == "vllm" and self.layer_exit is not None:
            raise ValueError("layer exits run on the hf backend only (cotexit's decode loop), not on --backend vllm")
        object.__setattr__(self, "layers", tuple(self.layers))
        if self.layer_exit is not None and self.layer_exit.mode != "propagate":
            raise ValueError("collect runs layer exit in propagate mode only (exact mode changes nothing)")
        object.__setattr__(self, "budgets", tuple(sorted(set(int(b) for b in self.budgets))))
        if any(b < 1 for b in self.budgets):
            raise ValueError(f"budgets must be >= 1 thinking tokens, got {self.budgets}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be >= 1, got {self.limit}")
        if isinstance(self.offset, bool) or not isinstance(self.offset, int) or self.offset < 0:
            raise ValueError(f"--offset must be an integer >= 0, got {self.offset!r}")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {self.batch_size}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CollectProgress:
    done: int
    total: int
    cues: int


def forced_answer_text(answer: ForcedAnswer) -> str | None:
    """The answer inside the forced `\\boxed{`, e.g. "42" from "42}."."""
    return last_boxed("\\boxed{" + answer.text)


def run_collect(
    lm: LoadedModel, config: CollectConfig, out: str | Path, engine_options: Any = None
) -> Iterator[CollectProgress]:
    """Collect into `out`, resuming what is there; `engine_options` are vLLM's (`VllmOptions`)."""
    features = FeatureSpec(
        CaptureConfig(layers=config.layers).resolve(lm.num_layers), int(lm.model.config.get_text_config().hidden_size)
    )
    problems, split = _items(config)
    meta = {
        "fingerprint": lm.fingerprint(),
        "features": features.to_json(),
        "thinking_format": lm.fmt.to_json(),
        "exit_semantics": SEMANTICS[config.exit_semantics].to_json(),
        "cues": config.cues.to_json(),
        "decode": config.decode.to_json(),
        "suite": config.suite,
        "split": split,
        "layer_exit": config.layer_exit.to_json() if config.layer_exit else None,
        "backend": config.backend,
        "prompts": config.prompts,
        "gold_read": config.prompts is None,  # False: no gold answer was read, nothing graded right or wrong
        "provenance": provenance(
            config.to_json(),
            prompts_provenance(config.prompts) if config.prompts else data_provenance(config.suite, split, config.data_dir),
        ),
    }
    match = ("fingerprint", "features", "thinking_format", "exit_semantics", "cues", "decode", "suite", "split", "layer_exit",
             "backend", "prompts", "dtype")
    decode = _open_backend(lm, config, features, engine_options)
    meta["dtype"] = decode.dtype  # what the features were computed in: a probe runs covered in this dtype only
    try:
        writer = CueDataWriter(out, meta, match_keys=match)
    except BaseException:
        _close(decode)
        raise
    todo = [p for p in problems if p.id not in writer.done]
    done = len(problems) - len(todo)
    total_cues = 0
    yield CollectProgress(done, len(problems), total_cues)
    try:
        for start in range(0, len(todo), config.batch_size):
            batch = todo[start : start + config.batch_size]
            began = time.perf_counter()
            labelled = decode([chat_prompt(lm.tokenizer, user_message(p)) for p in batch], [p.id for p in batch])
            problem_rows, cue_rows, matrix = _records(batch, labelled, features, began)
            writer.append(problem_rows, cue_rows, matrix)
            done += len(batch)
            total_cues += len(cue_rows)
            yield CollectProgress(done, len(problems), total_cues)
    finally:
        _close(decode)


def _close(decode: Any) -> None:
    close = getattr(decode, "close", None)
    if close is not None:
        close()


def _items(config: CollectConfig) -> tuple[list[Problem] | list[UserPrompt], str | None]:
    """(what to collect on, the suite's split): the suite's problems, or the prompt file's prompts."""
    if config.prompts is not None:
        return load_prompts(config.prompts, config.limit, config.offset), None
    split = get_suite(config.suite).check_split(config.split)
    limit = None if config.limit is None else config.offset + config.limit
    problems = load_problems(config.suite, split, limit, config.data_dir)[config.offset :]
    if not problems:
        raise ValueError(f"--offset {config.offset} skips every problem of {config.suite} {split}")
    return problems, split


@dataclass
class Labelled:
    """One batch decoded to the end, with its trials: what either backend hands to the records."""

    rows: list[RowState]  # finished, in batch order
    trials: dict[tuple[int, int], ForcedAnswer]  # (row, cue index) -> the trial at that cue's cut
    budget_trials: dict[tuple[int, int], ForcedAnswer]  # (row, budget) -> the trial after that many thinking tokens
    layers_per_token: float


def _open_backend(lm: LoadedModel, config: CollectConfig, features: FeatureSpec, engine_options: Any):
    """`decode(prompts, keys) -> Labelled` on the configured backend."""
    semantics = SEMANTICS[config.exit_semantics]
    if config.backend == "vllm":
        return _VllmLabeller(lm, config, features, semantics, engine_options)
    return _LoopLabeller(lm, config, features, semantics)


class _LoopLabeller:
    """The decode loop: trials branch the running batch's cache as each cue is confirmed."""

    def __init__(self, lm: LoadedModel, config: CollectConfig, features: FeatureSpec, semantics: ExitSemantics) -> None:
        self.config, self.semantics, self.num_layers = config, semantics, lm.num_layers
        self.dtype = dtype_name(lm.model.dtype)
        self.propagate = PropagateForward(lm.model, config.layer_exit) if config.layer_exit else None
        self.decoder = Decoder(
            lm.model,
            lm.tokenizer,
            lm.fmt,
            config.decode,
            cues=config.cues,
            capture=CaptureConfig(layers=features.layers, where="cues"),
            **({"step_forward": self.propagate} if self.propagate is not None else {}),
        )

    def __call__(self, prompts: list[str], keys: list[str]) -> Labelled:
        config, propagate = self.config, self.propagate
        layer_sum, tokens = (propagate.stats.exit_layer_sum, propagate.stats.tokens) if propagate else (0, 0)
        session = self.decoder.session(prompts, keys)
        trials: dict[tuple[int, int], ForcedAnswer] = {}
        budget_trials: dict[tuple[int, int], ForcedAnswer] = {}
        for event in session.steps():
            requests, names = [], []
            for r, cue in event.cues:
                if r in session.batch:
                    requests.append(ForcedRequest(r, self.semantics.cut_at(cue, generated=len(session.rows[r].tokens))))
                    names.append(("cue", r, session.rows[r].cues.index(cue)))
            for r in session.batch:
                row = session.rows[r]
                for budget in config.budgets:
                    if row.phase == "thinking" and (r, budget) not in budget_trials and row.fed - row.thinking_start_token >= budget:
                        budget_trials[(r, budget)] = None  # claimed; filled below
                        requests.append(ForcedRequest(r, row.thinking_start_token + budget))
                        names.append(("budget", r, budget))
            for (kind, r, i), answer in zip(names, forced_answers(session, requests, max_tokens=config.max_forced_tokens)):
                (trials if kind == "cue" else budget_trials)[(r, i)] = answer
        if propagate is not None and propagate.stats.tokens > tokens:  # the batch's mean, trials included
            layers_per_token = (propagate.stats.exit_layer_sum - layer_sum) / (propagate.stats.tokens - tokens)
        else:
            layers_per_token = float(self.num_layers)
        rows = [session.rows[r] for r in range(len(prompts))]
        return Labelled(rows, trials, {k: a for k, a in budget_trials.items() if a is not None}, layers_per_token)


class _VllmLabeller:
    """vLLM: each batch decodes to the end with the cue states captured in vLLM's own forward, then every
    cue's trial (and budget trial) runs in one more `generate()` call, from token ids the prefix cache serves."""

    def __init__(self, lm: LoadedModel, config: CollectConfig, features: FeatureSpec, semantics: ExitSemantics,
                 options: Any) -> None:
        from cotexit.engines.vllm import VllmEngine

        self.config, self.semantics, self.num_layers = config, semantics, lm.num_layers
        decode = config.decode
        self.engine = VllmEngine(
            lm, decode, cues=config.cues, capture=CaptureConfig(layers=features.layers, where="cues"), options=options,
        )
        self.dtype = self.engine.dtype

    def close(self) -> None:
        self.engine.close()

    def __call__(self, prompts: list[str], keys: list[str]) -> Labelled:
        rows = self.engine.rows(prompts, keys)
        requests, names = [], []
        for r, row in enumerate(rows):
            for i, cue in enumerate(row.cues):
                if cue.hidden is not None:  # a cue the last token confirmed has no states and, as on hf, no trial
                    requests.append(ForcedRequest(r, self.semantics.cut_at(cue, generated=len(row.tokens))))
                    names.append(("cue", r, i))
            if row.phase != "before":
                for budget in self.config.budgets:
                    if row.thinking_tokens >= budget:
                        requests.append(ForcedRequest(r, row.thinking_start_token + budget))
                        names.append(("budget", r, budget))
        answers = self.engine.forced_answers(rows, requests, self.config.max_forced_tokens)
        trials: dict[tuple[int, int], ForcedAnswer] = {}
        budget_trials: dict[tuple[int, int], ForcedAnswer] = {}
        for (kind, r, i), answer in zip(names, answers):
            (trials if kind == "cue" else budget_trials)[(r, i)] = answer
        return Labelled(rows, trials, budget_trials, float(self.num_layers))


def _records(batch: list, labelled: Labelled, features: FeatureSpec, began: float) -> tuple[list, list, torch.Tensor]:
    """The batch's problem rows, cue rows and cue features, as `CueDataWriter.append` takes them."""
    trials, budget_trials, layers_per_token = labelled.trials, labelled.budget_trials, labelled.layers_per_token
    problem_rows, cue_rows, feature_rows = [], [], []
    for r, problem in enumerate(batch):
        result = labelled.rows[r].result()
        gold = problem.answer if isinstance(problem, Problem) else None
        prediction = predicted_answer(result)
        think_start = labelled.rows[r].thinking_start_token
        kept = 0
        for index, cue in enumerate(result.cues):
            answer = trials.get((r, index))
            if answer is None or cue.hidden is None:
                continue  # confirmed as the row finished: no trial or no states
            forced = forced_answer_text(answer)
            cue_rows.append(
                {
                    "problem": problem.id,
                    "index": kept,
                    "phrase": cue.phrase,
                    "token_start": cue.token_start,
                    "thinking_tokens_before": answer.request.prefix - think_start,
                    "token_end": cue.token_end,
                    "cut": answer.request.prefix,
                    "forced_text": answer.text,
                    "forced_answer": forced,
                    "forced_correct": grade_answer(gold, forced),
                    "forced_agrees": same_answer(prediction, forced),
                    "forced_mean_prob": answer.mean_prob,
                    "forced_tokens": answer.cost_tokens,
                }
            )
            feature_rows.append(cue_features(cue.hidden, features))
            kept += 1
        problem_rows.append(
            {
                "id": problem.id,
                "gold": gold,
                "prediction": prediction,
                "full_correct": grade_answer(gold, prediction),
                "thinking_tokens": result.thinking_tokens,
                "total_tokens": result.total_tokens,
                "finish_reason": result.finish_reason,
                "n_cues": kept,
                "level": problem.metadata.get("level") if isinstance(problem, Problem) else None,
                "layers_per_token": layers_per_token,
                "budget_trials": {
                    str(b): {
                        "answer": forced_answer_text(a),
                        "correct": grade_answer(gold, forced_answer_text(a)),
                        "agrees": same_answer(prediction, forced_answer_text(a)),
                        "tokens": a.cost_tokens,
                    }
                    for (rr, b), a in budget_trials.items()
                    if rr == r
                },
                "seconds": time.perf_counter() - began,
            }
        )
    matrix = torch.stack(feature_rows) if feature_rows else torch.zeros((0, features.dim))
    return problem_rows, cue_rows, matrix
