"""Choosing the next token: greedy, temperature and nucleus (top-p) sampling.

Owns `SamplingConfig` and `sample_next`. Each row draws from its own
`torch.Generator`, so a row's tokens depend on its seed, not on which other
rows share its batch (a resumed benchmark reproduces the same samples).
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
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


def sample_next(
    logits: torch.Tensor, config: SamplingConfig, generators: list[torch.Generator] | None = None
) -> torch.Tensor:
    """Next token per row from `logits` (B, V); one generator per row when sampling. Returns (B,) long."""
    if config.greedy:
        return logits.argmax(dim=-1)  # (B,)
    if generators is None or len(generators) != logits.shape[0]:
        raise ValueError("sampling needs one torch.Generator per row")
    probs = torch.softmax(logits.float() / config.temperature, dim=-1)  # (B, V)
    if config.top_p < 1.0:
        probs = _top_p_filter(probs, config.top_p)
    rows = [torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(generators)]
    return torch.cat(rows).to(logits.device)  # (B,)


def _top_p_filter(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    sorted_probs, order = probs.sort(dim=-1, descending=True)  # (B, V)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs  # (B, V)
    sorted_probs = sorted_probs.masked_fill(mass_before >= top_p, 0.0)  # the top token always survives
    filtered = torch.zeros_like(probs).scatter(-1, order, sorted_probs)  # (B, V)
    return filtered / filtered.sum(dim=-1, keepdim=True)
