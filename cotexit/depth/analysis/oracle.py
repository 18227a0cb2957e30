"""The oracle earliest exit: per token, the first layer from which the top-1 is final and stays so.

Owns `oracle_layers` (from a (N, T) agreement table), `OracleSummary` and
`summarize_oracle` (mean and median oracle layer, depth savings, histogram).
An oracle knows the final top-1 in advance, so its savings are an upper
bound for any exit rule that must keep greedy decoding's tokens; no real
confidence measure is involved. The agreement table comes from `metrics`.

Layers are 1-based: the oracle layer of token t is the smallest l in 1..N
such that layer l' predicts the final top-1 for every l' >= l. Layer N
always agrees with itself, so every token has an oracle layer, N at worst.

>>> import torch
>>> agree = torch.tensor([[True], [False], [True], [True]])  # top-1 a, b, a, a; final a
>>> oracle_layers(agree).tolist()
[3]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch


def oracle_layers(agree: torch.Tensor) -> torch.Tensor:
    """1-based earliest layer whose top-1 equals the final one and stays so, per token.  # (T,)

    `agree` is (N, T) bool, row l-1 for layer l; its last row must be all True
    (the final layer agrees with itself).
    """
    if agree.dim() != 2 or agree.shape[0] < 1:
        raise ValueError(f"agree must be a (layers, tokens) table, got shape {tuple(agree.shape)}")
    if agree.dtype != torch.bool:
        raise ValueError(f"agree must be a bool tensor, got {agree.dtype}")
    if not bool(agree[-1].all()):
        raise ValueError("the last row of agree must be all True: the final layer agrees with itself")
    n_layers = agree.shape[0]
    stays = agree.flip(0).to(torch.int64).cumprod(0)  # (N, T): 1 while every later layer agrees, from the top
    return n_layers - stays.sum(0) + 1  # (T,)


def oracle_from_top1(top1: torch.Tensor, final: torch.Tensor) -> torch.Tensor:
    """`oracle_layers` from a (N, T) table of layer top-1 ids and the (T,) final top-1 ids.  # (T,)"""
    if top1.dim() != 2 or final.shape != top1.shape[1:]:
        raise ValueError(
            f"top1 must be (layers, tokens) and final (tokens,), got {tuple(top1.shape)} and {tuple(final.shape)}"
        )
    return oracle_layers(top1 == final[None, :])


@dataclass(frozen=True)
class OracleSummary:
    """Oracle exits over a set of tokens; `histogram[i]` counts tokens whose oracle layer is i + 1."""

    num_layers: int
    n_tokens: int
    mean_layer: float
    median_layer: float
    depth_savings: float  # 1 - mean_layer / num_layers
    histogram: list[int]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def summarize_oracle(layers: torch.Tensor, num_layers: int) -> OracleSummary:
    """Mean, median, depth savings (1 - mean/N) and histogram over 1..N of oracle layers.

    >>> summarize_oracle(torch.tensor([1, 4, 4, 3]), 4).depth_savings
    0.25
    """
    if layers.numel() == 0:
        raise ValueError("no tokens: cannot summarise oracle exits of an empty set")
    if int(layers.min()) < 1 or int(layers.max()) > num_layers:
        raise ValueError(f"oracle layers must lie in 1..{num_layers}, got {int(layers.min())}..{int(layers.max())}")
    mean = float(layers.double().mean())
    return OracleSummary(
        num_layers=num_layers,
        n_tokens=int(layers.numel()),
        mean_layer=mean,
        median_layer=float(layers.double().median()),
        depth_savings=1.0 - mean / num_layers,
        histogram=torch.bincount(layers - 1, minlength=num_layers).tolist(),
    )
