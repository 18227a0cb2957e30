"""Per-problem results as JSON lines that survive interruption, and the summary over them.

Owns `ProblemResult`, `ResultsFile` and `summarize`. Each finished problem is
appended as one line and flushed to disk at once, so a killed run loses only
what was in flight; on reopening, a torn last line is dropped and finished ids
are skipped. The run's settings are kept in `run.json` beside the results so
that resuming with different settings is refused instead of mixing runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cotexit.benchmarks.provenance import SCHEMA_VERSION
from cotexit.jsonlines import append_jsonl, read_jsonl_resumable


@dataclass
class ProblemResult:
    id: str
    gold: str
    prediction: str | None
    correct: bool
    thinking_tokens: int
    total_tokens: int
    prompt_tokens: int
    cue_count: int  # cues the run met, the exit's included (a before-cue cut leaves it out of cue_positions)
    cue_positions: list[int]
    cue_phrases: list[str]
    finish_reason: str
    exit: dict[str, Any] | None
    timings: dict[str, Any]  # row_s: seconds from its batch's start to its end; batch: the batch's first id
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    full: dict[str, Any] | None = None  # paired runs: the plain run of the same problem and seed
    depth: dict[str, Any] | None = None  # layer exit: the engine's counters for this row's batch
    probe_scores: list[float] | None = None  # length exit: the probe's score at each cue it saw
    trial_tokens: int = 0  # forced-answer trials a baseline policy ran (DEER, consistency): paid tokens
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProblemResult:
        """A result line as written by `to_json`; a line of another schema version is refused, naming it."""
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"result {data.get('id')!r} has schema_version {version!r}; this cotexit reads {SCHEMA_VERSION}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"result {data.get('id')!r} has fields this schema does not know: {unknown}")
        return cls(**data)


class ResultsFile:
    """`DIR/results.jsonl` plus `DIR/run.json`, opened for appending."""

    def __init__(self, out_dir: str | os.PathLike[str], settings: dict[str, Any]) -> None:
        self.dir = Path(out_dir)
        if self.dir.exists() and not self.dir.is_dir():
            raise ValueError(f"--out {self.dir} is a file, not a folder")
        self.path = self.dir / "results.jsonl"
        self.settings = json.loads(json.dumps(settings))  # as stored: tuples become lists
        self._check_settings(self.settings)
        self._settings_written = False
        self.rows = self._read()

    @property
    def done_ids(self) -> set[str]:
        return {r["id"] for r in self.rows}

    def results(self) -> list[ProblemResult]:
        """The rows read so far, typed."""
        return [ProblemResult.from_json(r) for r in self.rows]

    def append(self, result: ProblemResult) -> None:
        """Write one finished result; the first one also creates the folder and its `run.json` (so a run that fails
        before its first result leaves nothing behind)."""
        if not self._settings_written:
            self.write_settings()
        append_jsonl(self.path, [result.to_json()])
        self.rows.append(result.to_json())

    def _read(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for row in read_jsonl_resumable(self.path):
            seen.setdefault(row["id"], row)
        return list(seen.values())

    def _check_settings(self, settings: dict[str, Any]) -> None:
        """Refuse a folder holding results of other settings; writes nothing."""
        run_json = self.dir / "run.json"
        if run_json.exists():
            previous, current = _flatten(json.loads(run_json.read_text())), _flatten(settings)
            changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
            if changed and self.path.exists() and self.path.stat().st_size > 0:
                detail = ", ".join(f"{k}: {previous.get(k)!r} -> {current.get(k)!r}" for k in changed)
                raise ValueError(
                    f"{self.dir} holds results of a run with other settings ({detail}); "
                    "use another --out or delete the folder"
                )

    def write_settings(self) -> None:
        """Create the folder and write `run.json` (the settings a resumed run must share)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        run_json = self.dir / "run.json"
        tmp = run_json.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.settings, indent=2, sort_keys=True))
        tmp.replace(run_json)
        self._settings_written = True


def _flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"decode": {"max_new_tokens": 8}}` -> `{"decode.max_new_tokens": 8}`, so a refusal names the leaf that changed."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy and token means over result rows (`n` may be 0); accuracy None when the rows were not graded
    (prompts without gold answers)."""
    n = len(rows)

    def mean(key: str) -> float:
        return sum(float(r[key]) for r in rows) / n if n else 0.0

    batch_wall: dict[str, float] = {}
    for r in rows:  # a batch took as long as its slowest row
        key = r["timings"]["batch"]
        batch_wall[key] = max(batch_wall.get(key, 0.0), r["timings"]["row_s"])
    wall = sum(batch_wall.values())
    generated = sum(r["total_tokens"] for r in rows)
    return {
        "n": n,
        "accuracy": None if any(r["correct"] is None for r in rows) else mean("correct"),
        "mean_thinking_tokens": mean("thinking_tokens"),
        "mean_total_tokens": mean("total_tokens"),
        "mean_cues": mean("cue_count"),
        "exit_rate": sum(r["exit"] is not None for r in rows) / n if n else 0.0,
        "wall_s": wall,
        "tokens_per_s": generated / wall if wall > 0 else 0.0,
    }
