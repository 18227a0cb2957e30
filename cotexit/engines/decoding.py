"""What a decode is asked for, the same on every engine: `DecodeConfig` and its `SamplingConfig`.

Owns the budgets (new tokens, answer tokens after a forced exit) and the
sampling settings (temperature, top-p, seed, and each row's own seed from a
stable key such as a problem id), validated on construction and round-tripping
to JSON. How an engine samples with them is its own (`cotexit.engines.loop.sampling`
for the decode loop; `generate()` and vLLM take them as their options).
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class SamplingConfig:
    """`temperature == 0` means greedy; `top_p` keeps the smallest set of tokens with that much mass.

    >>> SamplingConfig(temperature=0.6, top_p=0.95, seed=0).greedy
    False
    """

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not (self.temperature >= 0.0):
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not (0.0 < self.top_p <= 1.0):
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def row_seed(self, key: str) -> int:
        """A seed from the config's seed and a stable per-row key (such as a problem id)."""
        return (self.seed * 1_000_003 + zlib.crc32(key.encode())) % (2**63)

    def row_generator(self, key: str) -> torch.Generator:
        """A generator seeded with `row_seed(key)`."""
        generator = torch.Generator()
        generator.manual_seed(self.row_seed(key))
        return generator

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DecodeConfig:
    """Budgets and sampling for one decode.

    `max_new_tokens` caps every row's generated tokens; `max_answer_tokens`
    caps what a row writes after a forced exit (the answer inside `\\boxed{`),
    which is decoded greedily whatever the sampling, as forced-answer trials are.
    """

    max_new_tokens: int = 1024
    max_answer_tokens: int = 32
    sampling: SamplingConfig = field(default_factory=SamplingConfig)

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.max_answer_tokens < 1:
            raise ValueError(f"max_answer_tokens must be >= 1, got {self.max_answer_tokens}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
