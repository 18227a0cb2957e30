"""The depth-analysis driver: texts in, per-layer statistics out, progress yielded on the way.

Owns `AnalysisConfig` (suite, split, limit, which texts, budgets, K, chunk
size) and `analyze`, a generator of `AnalysisEvent`s: one per generated
batch and one per analysed text, and a last one carrying the
`AnalysisReport`. It never prints; the CLI renders the events. Building
texts is `texts`', hidden states `states`', statistics `metrics`',
summaries and JSON `report`'s.

>>> # lm = load_model("smollm2-135m")
>>> # for event in analyze(lm, AnalysisConfig(suite="gsm8k", limit=5)): ...
>>> # event.report.write("runs/analysis")
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch

from cotexit.benchmarks.loading import load_problems
from cotexit.benchmarks.records import Problem
from cotexit.benchmarks.suites import get_suite
from cotexit.depth.analysis.metrics import DEFAULT_CHUNK, DEFAULT_TOP_K, LayerTokenStats, layer_token_stats
from cotexit.depth.analysis.report import AnalysisReport, TextReport, summarize
from cotexit.depth.analysis.states import block_outputs
from cotexit.models.parts import exit_head
from cotexit.depth.analysis.texts import (
    TEXT_KINDS,
    TeacherForced,
    check_gold_available,
    default_text,
    generated_texts,
    gold_solutions,
    gold_texts,
)

TextChoice = Literal["gold", "generated", "both"]


@dataclass(frozen=True)
class AnalysisConfig:
    """What to analyse. `text`: gold solutions, the model's greedy replies, or both.

    `text=None` (the default) resolves to `default_text(suite)`: gold where the suite has
    worked solutions, the model's replies otherwise; `text` then holds the choice made.
    """

    suite: str
    split: str | None = None
    limit: int | None = None
    text: TextChoice | None = None
    max_new_tokens: int = 256
    batch_size: int = 8
    top_k: int = DEFAULT_TOP_K
    chunk_size: int = DEFAULT_CHUNK
    data_dir: str | None = None

    def __post_init__(self) -> None:
        get_suite(self.suite)
        if self.text is None:
            object.__setattr__(self, "text", default_text(self.suite))
        if self.text not in ("gold", "generated", "both"):
            raise ValueError(f"text must be 'gold', 'generated' or 'both', got {self.text!r}")
        for name in ("max_new_tokens", "batch_size", "top_k", "chunk_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.limit is not None and (isinstance(self.limit, bool) or self.limit < 1):
            raise ValueError(f"limit must be >= 1 or None, got {self.limit!r}")
        if "gold" in self.kinds:
            check_gold_available(self.suite)

    @property
    def kinds(self) -> tuple[str, ...]:
        return TEXT_KINDS if self.text == "both" else (self.text,)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AnalysisEvent:
    """Progress: `stage` is "generate" or "analyze" for text kind `kind`; `report` is set on the last event."""

    stage: str
    kind: str
    done: int
    total: int
    report: AnalysisReport | None = field(default=None, repr=False)


def _max_len(model: Any) -> int | None:
    value = getattr(model.config.get_text_config(), "max_position_embeddings", None)
    return int(value) if value else None


def analyze_texts(
    lm: Any, texts: Sequence[TeacherForced], *, top_k: int, chunk_size: int
) -> Iterator[tuple[int, LayerTokenStats, int]]:
    """Per text: (index, statistics at its reply positions, how many reply tokens the final top-1 predicts)."""
    head = exit_head(lm.model)
    for index, text in enumerate(texts):
        states = block_outputs(lm.model, text.input_ids, head)  # (N, T, H)
        positions = torch.tensor(list(text.positions), dtype=torch.long, device=states.device)  # (R,)
        stats = layer_token_stats(
            states[:, positions], head.norm, head.lm_head, top_k=top_k, chunk_size=chunk_size
        )
        next_tokens = torch.tensor(text.input_ids[text.reply_start :], dtype=torch.long)  # (R,)
        matches = int((stats.top1[-1] == next_tokens).sum())
        yield index, stats, matches


def analyze(lm: Any, config: AnalysisConfig, problems: Sequence[Problem] | None = None) -> Iterator[AnalysisEvent]:
    """Run the analysis; the last event's `report` holds the result (provenance left for the caller to fill)."""
    split = get_suite(config.suite).check_split(config.split)
    if problems is None:
        problems = load_problems(config.suite, split, config.limit, config.data_dir)
    if not problems:
        raise ValueError(f"no problems to analyse in {config.suite} {split}")
    max_len = _max_len(lm.model)
    reports: dict[str, TextReport] = {}
    for kind in config.kinds:
        if kind == "gold":
            solutions = gold_solutions(problems, split, config.data_dir)
            texts = gold_texts(problems, solutions, lm.tokenizer, lm.fmt, max_len=max_len)
        else:
            texts = []
            yield AnalysisEvent("generate", kind, 0, len(problems))
            for batch in generated_texts(
                lm, problems, max_new_tokens=config.max_new_tokens, batch_size=config.batch_size, max_len=max_len
            ):
                texts.extend(batch)
                yield AnalysisEvent("generate", kind, min(len(texts), len(problems)), len(problems))
        if not texts:
            raise ValueError(f"no non-empty {kind} replies to analyse in {config.suite} {split}")
        parts, matches = [], 0
        yield AnalysisEvent("analyze", kind, 0, len(texts))
        for index, stats, hit in analyze_texts(lm, texts, top_k=config.top_k, chunk_size=config.chunk_size):
            parts.append(stats)
            matches += hit
            yield AnalysisEvent("analyze", kind, index + 1, len(texts))
        reports[kind] = summarize(
            kind,
            LayerTokenStats.concat(parts),
            n_problems=len(texts),
            n_truncated=sum(t.truncated for t in texts),
            text_matches=matches,
        )
    report = AnalysisReport(
        model=lm.fingerprint(),
        suite=config.suite,
        split=split,
        num_layers=lm.num_layers,
        top_k=config.top_k,
        texts=reports,
    )
    yield AnalysisEvent("done", config.kinds[-1], len(problems), len(problems), report=report)
