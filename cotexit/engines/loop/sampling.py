"""Choosing the next token: greedy, temperature and nucleus (top-p) sampling.

Owns `sample_next`, the decode loop's sampler for a `SamplingConfig`
(`cotexit.engines.decoding`). Each row draws from its own
`torch.Generator`, so a row's tokens depend on its seed, not on which other
rows share its batch (a resumed benchmark reproduces the same samples).
"""

from __future__ import annotations

import torch

from cotexit.engines.decoding import SamplingConfig


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
