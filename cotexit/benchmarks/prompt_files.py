"""A file of the user's own prompts, without answers (`--prompts FILE`).

Owns `UserPrompt` (an id and the user message, nothing to grade against) and
`load_prompts`, which reads a JSON-lines file of them: each line an object
with a `prompt` string, the user message exactly as the model is to see it
(no instruction is appended: ask for `\\boxed{}` in the prompt itself if
the model needs telling), and optionally an `id` (a string or integer;
default: the line's position among the prompts, from 0). A bad line is one
`ValueError` naming the file and line. A line with an `answer` field is
refused rather than ignored: a prompt file reads no gold answers, and a user
who has them wants `--suite FILE.jsonl`. Problems with gold answers are
`suites`' and `loading`'s; what is done without gold is the caller's.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "mine.jsonl")
>>> _ = open(path, "w").write('{"prompt": "What is 2+3?"}\\n{"id": "q7", "prompt": "And 4*5?"}\\n')
>>> [(p.id, p.prompt) for p in load_prompts(path)]  # doctest: +ELLIPSIS
[('.../mine.jsonl/0', 'What is 2+3?'), ('.../mine.jsonl/q7', 'And 4*5?')]
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cotexit.benchmarks.loading import data_file_sha256, read_jsonl

__all__ = ["UserPrompt", "load_prompts", "prompts_provenance"]

PathLike = str | os.PathLike[str]
_FORMAT = "a JSON-lines file, one object per line with a 'prompt' string and an optional 'id'"


@dataclass(frozen=True)
class UserPrompt:
    """One prompt of a prompt file: `id` is `FILE/<id or index>` (the path as given), `prompt` the user
    message, verbatim."""

    id: str
    prompt: str


def _own_id(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value).strip() == "":
        raise ValueError(f"field 'id' must be a non-empty string or an integer, got {value!r}")
    return str(value)


def load_prompts(path: PathLike, limit: int | None = None, offset: int = 0) -> list[UserPrompt]:
    """The prompts of `path` after skipping the first `offset`, at most `limit` of them (all when None).

    Ids are checked distinct over the whole file, so that a resumed run never mixes two prompts up.
    """
    name = str(path)
    if not Path(path).expanduser().is_file():
        raise FileNotFoundError(f"prompt file {name!r} not found ({_FORMAT})")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"offset must be an integer >= 0, got {offset!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be an integer >= 1 or None, got {limit!r}")
    prompts: list[UserPrompt] = []
    lines: dict[str, int] = {}
    for index, (lineno, row) in enumerate(read_jsonl(Path(path).expanduser())):
        try:
            if "answer" in row:
                raise ValueError(
                    "has an 'answer' field, and a prompt file reads no gold answers; to grade against them use "
                    "--suite FILE.jsonl (fields 'problem' and 'answer'), or drop the field"
                )
            text = row.get("prompt")
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"field 'prompt' must be a non-empty string, got {text!r}")
            own = _own_id(row["id"]) if row.get("id") is not None else str(index)
        except ValueError as exc:
            raise ValueError(f"{name}:{lineno}: {exc} ({_FORMAT})") from exc
        if own in lines:
            raise ValueError(f"{name}:{lineno}: id {own!r} is already used on line {lines[own]}; ids must be distinct")
        lines[own] = lineno
        prompts.append(UserPrompt(id=f"{name}/{own}", prompt=text))
    if not prompts:
        raise ValueError(f"prompt file {name} holds no prompts ({_FORMAT})")
    if offset >= len(prompts):
        raise ValueError(f"offset {offset} skips every one of the {len(prompts)} prompts of {name}")
    return prompts[offset:] if limit is None else prompts[offset : offset + limit]


def prompts_provenance(path: PathLike) -> dict[str, str]:
    """The data entry of a run's provenance: the prompt file and its SHA-256."""
    resolved = Path(path).expanduser().resolve()
    return {"file": str(resolved), "sha256": data_file_sha256(resolved)}


def check_source(suite: str | None, prompts: str | None, split: str | None, data_dir: str | None) -> None:
    """A run reads a suite (`suite`, with gold answers) or a prompt file (`prompts`, none): exactly one, and a
    prompt file takes no `split` or `data_dir`."""
    if (suite is None) == (prompts is None):
        raise ValueError(
            "give --suite (problems with gold answers) or --prompts (a file of your own prompts, no answers), "
            f"not {'both' if suite is not None else 'neither'}"
        )
    if prompts is not None and (split is not None or data_dir is not None):
        raise ValueError("--split and --data-dir name a suite's data; a --prompts file is read as it is")
