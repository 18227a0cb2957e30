"""The teacher-forced token sequences the depth analysis reads: gold solutions or the model's own text.

Owns `TeacherForced` (prompt + reply token ids and where the reply starts),
the gold reply of a problem (`gold_reply`, from the suite's raw solution
field, read by `gold_solutions`) and `generated_texts` (greedy decoding with
`cotexit.engines.loop.Decoder`, yielding after every batch). Both put the
reply after the model's chat prompt for the problem (`chat_prompt` of
`build_prompt`), tokenised as decoding would: prompt and reply separately.
`default_text` says which of the two a suite gets when nobody chooses.

The positions that count are those whose next token is a reply token,
`reply_start - 1 .. len - 2` (`TeacherForced.positions`): at those a decoding
model would compute the layers to produce the reply. Statistics live in
`metrics`; which hidden states to read in `states`.

Gold reply: the suite's solution text (GSM8K with its `<<calc>>` notes and
`#### answer` line removed), then the model family's forced-exit text and the
gold answer closing the box (`...\\n\\nThe final answer is \\boxed{18}`),
unless a plain-format solution already has a `\\boxed{}`. Formats with think
tags get the solution inside the think block (opened in the reply when the
prompt does not open it), closed by the forced-exit text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cotexit.benchmarks.loading import read_jsonl, source_path
from cotexit.benchmarks.prompts import build_prompt
from cotexit.benchmarks.records import Problem
from cotexit.benchmarks.suites import get_suite
from cotexit.models.thinking import ThinkingFormat

TextKind = Literal["gold", "generated"]
TEXT_KINDS: tuple[TextKind, ...] = ("gold", "generated")

SOLUTION_FIELDS = {"gsm8k": "answer", "math": "solution", "math500": "solution", "aime24": "solution"}
"""The raw field holding a worked solution, for the suites that have one."""

_CALC = re.compile(r"<<[^<>]*>>")
_FINAL_LINE = re.compile(r"\n?####[^\n]*\s*$")


@dataclass(frozen=True)
class TeacherForced:
    """One sequence to run through the model: `input_ids[reply_start:]` is the reply."""

    key: str
    kind: TextKind
    input_ids: list[int]
    reply_start: int
    truncated: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.reply_start <= len(self.input_ids):
            raise ValueError(
                f"{self.key}: reply_start must lie in 1..{len(self.input_ids)} (a non-empty prompt), "
                f"got {self.reply_start}"
            )

    @property
    def n_reply(self) -> int:
        return len(self.input_ids) - self.reply_start

    @property
    def positions(self) -> range:
        """Positions whose prediction is a reply token: reply_start - 1 .. len - 2."""
        return range(self.reply_start - 1, len(self.input_ids) - 1)


def check_gold_available(suite: str) -> None:
    """`ValueError` when `suite` has no worked solutions to teacher-force."""
    get_suite(suite)
    if suite not in SOLUTION_FIELDS:
        raise ValueError(
            f"suite {suite!r} has no gold solution text (suites with one: {', '.join(sorted(SOLUTION_FIELDS))}); "
            "use --text generated"
        )


def default_text(suite: str) -> TextKind:
    """What to analyse when not told: the gold solutions where `suite` has them, else the model's own replies.

    >>> default_text("gsm8k"), default_text("arith")
    ('gold', 'generated')
    """
    get_suite(suite)
    return "gold" if suite in SOLUTION_FIELDS else "generated"


def clean_solution(suite: str, text: str) -> str:
    """The solution as a model would write it: GSM8K loses its calculator notes and final `####` line.

    >>> clean_solution("gsm8k", "3 + 4 = <<3+4=7>>7 pens.\\n#### 7")
    '3 + 4 = 7 pens.'
    """
    text = text.strip()
    if suite == "gsm8k":
        text = _FINAL_LINE.sub("", _CALC.sub("", text)).strip()
    return text


def gold_reply(solution: str, answer: str, fmt: ThinkingFormat) -> str:
    """The reply text for a gold solution under a thinking format (see the module docstring).

    >>> from cotexit.models.thinking import get_format
    >>> gold_reply("3 + 4 = 7.", "7", get_format("plain"))
    '3 + 4 = 7.\\n\\nThe final answer is \\\\boxed{7}'
    """
    if not fmt.has_tags:
        return solution if "\\boxed" in solution else solution + fmt.forced_exit + answer + "}"
    opener = "" if fmt.prompt_opens_thinking else fmt.think_start + "\n"
    return opener + solution + fmt.forced_exit + answer + "}"


def gold_solutions(problems: Sequence[Problem], split: str | None, data_dir: str | Path | None) -> list[str]:
    """The cleaned solution text of each problem, read from the suite's local data file.

    `problems` must be a prefix of the split in file order (as `load_problems` returns them).
    """
    if not problems:
        return []
    suite = problems[0].suite
    check_gold_available(suite)
    path = source_path(suite, split, data_dir)
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"gold text needs the local {suite} data file, not found ({path}); point --data-dir at the benchmark files"
        )
    field = SOLUTION_FIELDS[suite]
    rows = [row for _, row in read_jsonl(path, len(problems))]
    out = []
    for problem, row in zip(problems, rows, strict=True):
        text = row.get(field)
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{path}: problem {problem.id} has no {field!r} text")
        out.append(clean_solution(suite, text))
    return out


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def teacher_forced(
    key: str, kind: TextKind, prompt_ids: list[int], reply_ids: list[int], max_len: int | None
) -> TeacherForced:
    """Prompt + reply, the reply cut so that the whole fits in `max_len` tokens (when given)."""
    ids = list(prompt_ids) + list(reply_ids)
    truncated = max_len is not None and len(ids) > max_len
    if truncated:
        if len(prompt_ids) + 1 > max_len:
            raise ValueError(f"{key}: the prompt alone has {len(prompt_ids)} tokens, over the model's {max_len}")
        ids = ids[:max_len]
    return TeacherForced(key=key, kind=kind, input_ids=ids, reply_start=len(prompt_ids), truncated=truncated)


def gold_texts(
    problems: Sequence[Problem],
    solutions: Sequence[str],
    tokenizer: Any,
    fmt: ThinkingFormat,
    *,
    max_len: int | None = None,
) -> list[TeacherForced]:
    """Teacher-forced gold replies, one per problem; empty replies are dropped."""
    from cotexit.models.loading import chat_prompt

    out = []
    for problem, solution in zip(problems, solutions, strict=True):
        prompt_ids = _encode(tokenizer, chat_prompt(tokenizer, build_prompt(problem)))
        reply_ids = _encode(tokenizer, gold_reply(solution, problem.answer, fmt))
        if reply_ids:
            out.append(teacher_forced(problem.id, "gold", prompt_ids, reply_ids, max_len))
    return out


def generated_texts(
    lm: Any,
    problems: Sequence[Problem],
    *,
    max_new_tokens: int,
    batch_size: int,
    max_len: int | None = None,
) -> Iterator[list[TeacherForced]]:
    """Greedy replies of `lm` (a `LoadedModel`), decoded `batch_size` problems at a time; yields each batch's texts."""
    from cotexit.engines.decoding import DecodeConfig
    from cotexit.engines.loop import Decoder
    from cotexit.models.loading import chat_prompt

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    decoder = Decoder(lm.model, lm.tokenizer, lm.fmt, DecodeConfig(max_new_tokens=max_new_tokens))
    for start in range(0, len(problems), batch_size):
        batch = problems[start : start + batch_size]
        prompts = [chat_prompt(lm.tokenizer, build_prompt(p)) for p in batch]
        rows = decoder.generate(prompts, keys=[p.id for p in batch])
        texts = []
        for prompt, row in zip(prompts, rows, strict=True):
            if row.token_ids:
                texts.append(teacher_forced(row.key, "generated", decoder.encode(prompt), row.token_ids, max_len))
        yield texts
