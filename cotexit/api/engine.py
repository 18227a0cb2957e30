"""One engine, one constructor, whatever the backend: `Engine`, and its typed result, `Solution`.

Owns `Engine` (a loaded model, a backend name, the exits and the decoding
settings; `solve` takes benchmark problems or plain questions and returns one
`Solution` each) and `Solution` (what a user reads: the extracted answer,
whether it is right when the gold answer is known, tokens, the exit, the
probe's scores, the text; with a schema version). Producing tokens is the
engines' (`cotexit.engines.backends.open_engine`), extraction and grading
the benchmarks' (`cotexit.benchmarks.grading`); this module only wires them.

    >>> # import cotexit
    >>> # lm = cotexit.load_model("toy")
    >>> # with cotexit.Engine(lm, exits=cotexit.Exits(probe="shipped")) as engine:   # backend="hf" | "generate" | "vllm"
    >>> #     [s] = engine.solve(cotexit.load_problems("arith", "test", limit=1))
    >>> # s.answer, s.correct, s.thinking_tokens, s.exit
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from cotexit.api.exits import Exits
from cotexit.benchmarks.grading import grade_row
from cotexit.benchmarks.prompts import BOXED_INSTRUCTION, build_prompt
from cotexit.benchmarks.records import Problem
from cotexit.controller.cues import CueConfig
from cotexit.controller.rows import ExitInfo, RowResult
from cotexit.engines.backends import check_backend, open_engine
from cotexit.engines.decoding import DecodeConfig
from cotexit.models.template import chat_prompt

SOLUTION_SCHEMA = 1


@dataclass(frozen=True)
class Solution:
    """One solved problem or question. `correct` is None when no gold answer was given."""

    key: str
    answer: str | None  # the final answer extracted from the text (the last \\boxed{} after thinking, ...)
    correct: bool | None
    gold: str | None
    thinking_tokens: int
    total_tokens: int
    trial_tokens: int  # tokens of forced-answer trials a baseline paid for (DEER, consistency)
    exit: ExitInfo | None  # where thinking was cut, by which policy; None: it thought to the end
    probe_scores: list[float]
    text: str
    row: RowResult = field(repr=False)  # everything the engine recorded: cues, their states, finish reason
    schema_version: int = SOLUTION_SCHEMA


class Engine:
    """A model with exits on one backend: `hf` (cotexit's decode loop, the only one with layer exits),
    `generate` (an unmodified transformers `generate()`) or `vllm`. Close it (or use `with`) to take its hooks
    off the model."""

    def __init__(
        self,
        lm: Any,
        *,
        backend: str = "hf",
        exits: Exits | None = None,
        decode: DecodeConfig | None = None,
        cues: CueConfig | None = None,
        engine_options: Any = None,
    ) -> None:
        self.lm = lm
        self.exits = exits or Exits()
        check_backend(backend, layer_exit=self.exits.layer_exit is not None)
        self.backend = backend
        self.decode = decode or DecodeConfig()
        self.resolved = self.exits.resolve(lm)
        engine_options = _in_probe_dtype(self.resolved, backend, lm, engine_options)
        self.step_forward = self.resolved.step_forward() if self.resolved.step_forward is not None else None
        self._closing = ExitStack()
        self._run = self._closing.enter_context(
            open_engine(
                backend, lm, self.decode, cues, policies=self.resolved.policies, step_forward=self.step_forward,
                engine_options=engine_options,
            )
        )

    def generate(self, prompts: Sequence[str], keys: Sequence[str] | None = None) -> list[RowResult]:
        """Decode full prompt texts (chat template applied) to `RowResult`s."""
        keys = list(keys) if keys is not None else [str(i) for i in range(len(prompts))]
        return self._run(list(prompts), keys)

    def solve(self, problems: Sequence[Problem | str]) -> list[Solution]:
        """Solve benchmark problems (graded against their gold answers) or questions (plain strings, ungraded),
        prompted as `cotexit bench` and `cotexit solve` prompt them."""
        if isinstance(problems, (str, Problem)):
            raise TypeError("solve() takes a list of problems or questions")
        prompts, keys = [], []
        for i, problem in enumerate(problems):
            text = build_prompt(problem) if isinstance(problem, Problem) else f"{problem.strip()}\n{BOXED_INSTRUCTION}"
            prompts.append(chat_prompt(self.lm.tokenizer, text))
            keys.append(problem.id if isinstance(problem, Problem) else str(i))
        rows = self.generate(prompts, keys) if prompts else []
        return [_solution(problem, row) for problem, row in zip(problems, rows)]

    def close(self) -> None:
        self._closing.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _in_probe_dtype(resolved: Any, backend: str, lm: Any, engine_options: Any) -> Any:
    """The engine options with vLLM computing in the probe's dtype unless they name one; on the other backends,
    which run the model as loaded, a warning when it computes in another dtype than the probe's features were."""
    import warnings

    from cotexit.models.loading import dtype_name
    from cotexit.probes.coverage import certified_dtypes

    if resolved.probe is None:
        return engine_options
    dtypes = certified_dtypes(resolved.probe.artifact)
    if len(dtypes) != 1:  # not recorded (older cards), or settings in several dtypes: the engine's own default
        return engine_options
    (dtype,) = dtypes
    if backend == "vllm":
        from cotexit.engines.vllm import VllmOptions

        if engine_options is None:
            return VllmOptions(dtype=dtype)
        return engine_options if engine_options.dtype is not None else dataclasses.replace(engine_options, dtype=dtype)
    if dtype_name(lm.model.dtype) != dtype:
        warnings.warn(
            f"the probe's features were computed in {dtype} and this model computes in {dtype_name(lm.model.dtype)}: "
            f"its guarantee does not cover this run (load the model with dtype={dtype!r})", stacklevel=3,
        )
    return engine_options


def _solution(problem: Problem | str, row: RowResult) -> Solution:
    answer, correct = grade_row(problem, row)  # a plain question (a string) has no gold: correct is None
    gold = problem.answer if isinstance(problem, Problem) else None
    return Solution(
        key=row.key, answer=answer, correct=correct, gold=gold, thinking_tokens=row.thinking_tokens,
        total_tokens=row.total_tokens, trial_tokens=row.trial_tokens, exit=row.exit, probe_scores=list(row.probe_scores),
        text=row.text, row=row,
    )
