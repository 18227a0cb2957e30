"""Running a model over a benchmark suite, resumably, one batch at a time.

Owns `BenchConfig`, `BenchProgress`, `prepare_bench`, `run_prepared` and
`run_bench` (the two in one). `prepare_bench` loads the problems and opens
`DIR/results.jsonl` (refusing other settings), so that bad data or a bad
`--out` fail before a model is loaded. `run_prepared` then skips the problems
already in the results file, decodes the rest in batches with
`cotexit.engines.loop`, grades each row as soon as it finishes, appends it to
the results file and yields a progress event. After the last batch it writes
`DIR/summary.json` (summary plus provenance). With a prompt file (`prompts`:
the user's own messages, verbatim, no answers) nothing is graded: `gold` and
`correct` are None, the summary has no accuracy and records `gold_read:
false`, and a paired run reports the tokens saved and how often the exit
changed the answer. Rendering the progress is the CLI's job.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cotexit.benchmarks.grading import disagreement, grade_row
from cotexit.benchmarks.loading import data_file_sha256, load_problems, source_path
from cotexit.benchmarks.prompt_files import UserPrompt, check_source, load_prompts, prompts_provenance
from cotexit.benchmarks.prompts import user_message
from cotexit.benchmarks.provenance import provenance
from cotexit.benchmarks.records import Problem
from cotexit.benchmarks.results import ProblemResult, ResultsFile, summarize
from cotexit.benchmarks.suites import get_suite, names_a_file
from cotexit.controller.cues import CueConfig
from cotexit.probes.controller import ProbeExitPolicy
from cotexit.engines.backends import check_backend, engine_options, open_engine
from cotexit.engines.decoding import DecodeConfig
from cotexit.engines.loop.decode import Decoder
from cotexit.controller.policies import ExitPolicy
from cotexit.controller.rows import RowResult
from cotexit.models.loading import LoadedModel, chat_prompt
from cotexit.experiments.paired import Treatment, paired_summary, run_flops, run_pair


@dataclass(frozen=True)
class BenchConfig:
    """What to run: suite (or a prompt file), split, how many problems, batching, decoding, cues."""

    suite: str | None  # None with `prompts`
    model: str
    split: str | None = None
    limit: int | None = None
    batch_size: int = 8
    data_dir: str | None = None
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    cues: CueConfig = field(default_factory=CueConfig)
    exits: dict[str, Any] = field(default_factory=dict)  # the treated run's settings; empty = plain runs only
    backend: str = "hf"  # the engine: cotexit's decode loop (hf), transformers generate() (generate), vllm
    engine: dict[str, Any] = field(default_factory=dict)  # the engine's own options (vllm: VllmOptions)
    prompts: str | None = None  # a JSON-lines file of the user's prompts, no answers (cotexit.benchmarks.prompt_files)

    def __post_init__(self) -> None:
        check_source(self.suite, self.prompts, self.split, self.data_dir)
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be >= 1, got {self.limit}")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {self.batch_size}")
        check_backend(self.backend)

    def settings(self) -> dict[str, Any]:
        """What must match for a resumed run to continue an earlier one (the limit may change)."""
        return {
            "suite": self.suite,
            "split": self.split,
            "model": self.model,
            "decode": self.decode.to_json(),
            "cues": self.cues.to_json(),
            "exits": self.exits,
            **({"backend": self.backend} if self.backend != "hf" else {}),  # runs from before backends resume
            **({"engine": self.engine} if self.engine else {}),
            # a file of the user's own problems: its content, so that results of an edited file are not mixed in
            **({"suite_sha256": data_file_sha256(Path(self.suite).expanduser())} if self.suite and names_a_file(self.suite) else {}),
            **({"prompts": self.prompts, "prompts_sha256": data_file_sha256(Path(self.prompts).expanduser())}
               if self.prompts else {}),
        }

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BenchProgress:
    """Yielded after each finished problem (and once at the start with `result=None`)."""

    done: int
    total: int
    skipped: int
    result: ProblemResult | None
    correct_so_far: int  # 0 on a prompt file: nothing is graded


Item = Problem | UserPrompt


def to_result(problem: Item, row: RowResult, timings: dict[str, Any]) -> ProblemResult:
    prediction, correct = grade_row(problem, row)
    return ProblemResult(
        id=problem.id,
        gold=problem.answer if isinstance(problem, Problem) else None,
        prediction=prediction,
        correct=correct,
        thinking_tokens=row.thinking_tokens,
        total_tokens=row.total_tokens,
        prompt_tokens=row.prompt_tokens,
        cue_count=row.cues_seen,  # the exit's cue too, which a before-cue cut drops from `cue_positions`
        cue_positions=[c.token_start for c in row.cues],
        cue_phrases=[c.phrase for c in row.cues],
        finish_reason=row.finish_reason,
        exit=asdict(row.exit) if row.exit else None,
        timings=timings,
        text=row.text,
        metadata=dict(problem.metadata) if isinstance(problem, Problem) else {},
        trial_tokens=row.trial_tokens,
    )


@dataclass
class PreparedBench:
    """A run's problems and its opened results folder: everything `run_prepared` needs but the model."""

    config: BenchConfig
    problems: list[Item]
    results: ResultsFile

    @property
    def out_dir(self) -> Path:
        return self.results.dir


def prepare_bench(config: BenchConfig, out_dir: str | Path) -> PreparedBench:
    """Load the problems and open `out_dir`; raises on bad data, a bad folder or changed settings."""
    if config.prompts is not None:
        problems = load_prompts(config.prompts, config.limit)
    else:
        problems = load_problems(config.suite, config.split, config.limit, config.data_dir)
    return PreparedBench(config, problems, ResultsFile(out_dir, config.settings()))


def run_bench(
    lm: LoadedModel,
    config: BenchConfig,
    out_dir: str | Path,
    *,
    policies: Sequence[ExitPolicy] = (),
) -> Iterator[BenchProgress]:
    """Solve the suite's problems not yet in `out_dir`, yielding after each; writes summary.json at the end."""
    yield from run_prepared(lm, prepare_bench(config, out_dir), policies=policies)


def run_prepared(
    lm: LoadedModel,
    prepared: PreparedBench,
    *,
    policies: Sequence[ExitPolicy] = (),
    treatment: Treatment | None = None,
) -> Iterator[BenchProgress]:
    """`run_bench` over what `prepare_bench` returned (how the CLI fails on bad data before loading a model).

    With a `treatment`, each batch is decoded twice (plainly, then with the exits) and written when both finish.
    """
    if treatment is not None:
        yield from _run_paired(lm, prepared, treatment)
        return
    config, problems, results = prepared.config, prepared.problems, prepared.results
    done_ids = results.done_ids
    todo = [p for p in problems if p.id not in done_ids]
    wanted = {p.id for p in problems}
    correct = sum(bool(r["correct"]) for r in results.rows if r["id"] in wanted)
    done = len(problems) - len(todo)
    yield BenchProgress(done, len(problems), done, None, correct)

    if config.backend != "hf":
        yield from _run_batches(lm, prepared, todo, policies, done, correct)
    else:
        decoder = Decoder(lm.model, lm.tokenizer, lm.fmt, config.decode, cues=config.cues, policies=policies)
        for start in range(0, len(todo), config.batch_size):
            batch = todo[start : start + config.batch_size]
            prompts = [chat_prompt(lm.tokenizer, user_message(p)) for p in batch]
            session = decoder.session(prompts, keys=[p.id for p in batch])
            began = time.perf_counter()
            for event in session.steps():
                now = time.perf_counter() - began
                for r in event.finished:
                    timings = {"row_s": now, "batch": batch[0].id, "batch_size": len(batch)}
                    result = to_result(batch[r], session.rows[r].result(), timings)
                    results.append(result)
                    done += 1
                    correct += bool(result.correct)
                    yield BenchProgress(done, len(problems), len(problems) - len(todo), result, correct)

    write_summary(lm, config, prepared.out_dir, [r for r in results.rows if r["id"] in wanted])


def _run_batches(
    lm: LoadedModel, prepared: PreparedBench, todo: list[Item], policies: Sequence[ExitPolicy], done: int, correct: int
) -> Iterator[BenchProgress]:
    """Plain runs on an engine that returns whole batches (`generate`): rows are written when their batch ends."""
    config, problems, results = prepared.config, prepared.problems, prepared.results
    capture = next((p.capture() for p in policies if hasattr(p, "capture")), None)
    options = dict(policies=policies, capture=capture, engine_options=engine_options(config.backend, config.engine))
    with open_engine(config.backend, lm, config.decode, config.cues, **options) as decode:
        for start in range(0, len(todo), config.batch_size):
            batch = todo[start : start + config.batch_size]
            prompts = [chat_prompt(lm.tokenizer, user_message(p)) for p in batch]
            began = time.perf_counter()
            rows = decode(prompts, [p.id for p in batch])
            timings = {"row_s": time.perf_counter() - began, "batch": batch[0].id, "batch_size": len(batch)}
            for problem, row in zip(batch, rows):
                result = to_result(problem, row, timings)
                results.append(result)
                done += 1
                correct += bool(result.correct)
                yield BenchProgress(done, len(problems), len(problems) - len(todo), result, correct)


def _run_paired(lm: LoadedModel, prepared: PreparedBench, treatment: Treatment) -> Iterator[BenchProgress]:
    config, problems, results = prepared.config, prepared.problems, prepared.results
    todo = [p for p in problems if p.id not in results.done_ids]
    wanted = {p.id for p in problems}
    correct = sum(bool(r["correct"]) for r in results.rows if r["id"] in wanted)
    done = len(problems) - len(todo)
    yield BenchProgress(done, len(problems), done, None, correct)
    scored = any(isinstance(p, ProbeExitPolicy) for p in treatment.policies)  # rows carry the probe's scores
    for start in range(0, len(todo), config.batch_size):
        batch = todo[start : start + config.batch_size]
        prompts = [chat_prompt(lm.tokenizer, user_message(p)) for p in batch]
        pair = run_pair(
            lm, config.decode, config.cues, treatment, prompts, [p.id for p in batch],
            config.backend, engine_options(config.backend, config.engine),
        )
        full_flops = run_flops(lm.model.config, pair.full)
        treated_flops = run_flops(lm.model.config, pair.treated)
        for i, (problem, full_row, row) in enumerate(zip(batch, pair.full, pair.treated)):
            timings = {
                "row_s": pair.treated_s,
                "batch": batch[0].id,
                "batch_size": len(batch),
                "full_batch_s": pair.full_s,
                "treated_batch_s": pair.treated_s,
                "full_batch_flops": full_flops,
                "treated_batch_flops": treated_flops,
            }
            result = to_result(problem, row, timings)
            full_prediction, full_correct = grade_row(problem, full_row)
            differing, compared = disagreement(full_row.token_ids, row.token_ids)
            result.full = {
                "prediction": full_prediction,
                "correct": full_correct,
                "thinking_tokens": full_row.thinking_tokens,
                "total_tokens": full_row.total_tokens,
                "cue_count": len(full_row.cues),
                "differing_tokens": differing,
                "compared_tokens": compared,
                "same_tokens": full_row.token_ids == row.token_ids,
                "text_sha256": hashlib.sha256(full_row.text.encode()).hexdigest()[:16],  # compares full runs across runs
            }
            if pair.forced is not None:
                result.full["forced_differing"] = pair.forced.differing[i]
                result.full["forced_compared"] = pair.forced.compared[i]
            result.depth = pair.depth
            result.probe_scores = (row.probe_scores or None) if scored else None
            results.append(result)
            done += 1
            correct += bool(result.correct)
            yield BenchProgress(done, len(problems), len(problems) - len(todo), result, correct)
    rows = [r for r in results.rows if r["id"] in wanted]
    write_summary(lm, config, prepared.out_dir, rows, extra=paired_summary(rows, treatment.guarantee, treatment.shift_reference, treatment.settings_shift))


def write_summary(
    lm: LoadedModel,
    config: BenchConfig,
    out_dir: str | Path,
    rows: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> dict:
    if config.prompts is not None:
        data, split = prompts_provenance(config.prompts), None
        source = {"prompts": config.prompts, "gold_read": False}  # no gold answer read, nothing graded
    else:
        path = source_path(config.suite, config.split, config.data_dir)
        data = {"file": str(path), "sha256": data_file_sha256(path)} if path else {"source": "generated or hub"}
        split = config.split or get_suite(config.suite).default_split  # the split that ran, not None for "the default"
        source = {}
    summary = {"suite": config.suite, "split": split, **source, "model": config.model, **summarize(rows)}
    summary |= extra or {}
    summary["thinking_format"] = lm.fmt.name
    summary["backend"] = config.backend
    summary["provenance"] = provenance(config.to_json(), data)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    path = Path(out_dir) / "summary.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(path)
    return summary
