"""One number saying how much a model on a workload lends itself to depth exits.

Owns the suitability score and its definition (`FORMULA`, written into every
analysis JSON). For token t with oracle exit layer L_t (see `oracle`) in a
model of N layers:

    savings_t    = 1 - L_t / N                       (share of the stack an oracle exit skips)
    similarity_t = exp(-KL(p_N,t || p_{L_t},t))      (how close the exit layer's whole distribution is)
    suitability  = mean_t  savings_t * similarity_t

`exp(-KL(p || q))` is the geometric mean, under the final distribution p, of
the likelihood ratio q/p: 1 when the exit layer's distribution equals the
final one, falling towards 0 as it drifts. So the score is the oracle depth
savings (`mean_t savings_t`) discounted, token by token, by how far the
exited distribution is from the model's: an exit that gets the argmax right
with a flat or misplaced distribution is hard for a confidence rule to take,
and changes sampled text. It lies in [0, 1 - 1/N]; it equals the oracle
savings exactly when every exit layer already reproduces the final
distribution. Both factors are reported alongside it.

Agreement tables and oracle layers come from `metrics` and `oracle`.

>>> import torch
>>> s = suitability(torch.tensor([2, 4]), torch.zeros(4, 2), num_layers=4)
>>> s.score, s.oracle_depth_savings
(0.25, 0.25)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

FORMULA = (
    "suitability = mean over reply tokens t of (1 - L_t / N) * exp(-KL(p_N,t || p_L_t,t)), "
    "where L_t is the oracle exit layer of token t (earliest layer whose top-1 equals the final top-1 "
    "and stays so), N the number of layers, p_l the distribution of layer l's prediction "
    "(model's final norm + LM head) and KL in nats"
)


@dataclass(frozen=True)
class Suitability:
    score: float
    oracle_depth_savings: float  # mean_t (1 - L_t / N)
    mean_exit_similarity: float  # mean_t exp(-KL at the exit layer)
    formula: str = FORMULA

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def exit_similarity(layers: torch.Tensor, kl: torch.Tensor) -> torch.Tensor:
    """exp(-KL(final || layer L_t)) per token, from oracle layers (T,) and the (N, T) KL table.  # (T,)"""
    if kl.dim() != 2 or layers.shape != kl.shape[1:]:
        raise ValueError(
            f"kl must be (layers, tokens) and layers (tokens,), got {tuple(kl.shape)} and {tuple(layers.shape)}"
        )
    at_exit = kl.gather(0, (layers - 1).long()[None, :])[0]  # (T,)
    return torch.exp(-at_exit.double())  # (T,)


def suitability(layers: torch.Tensor, kl: torch.Tensor, *, num_layers: int) -> Suitability:
    """The suitability score of a set of tokens (see the module docstring for the formula)."""
    if num_layers < 1 or kl.shape[0] != num_layers:
        raise ValueError(f"num_layers must match the KL table's {kl.shape[0]} rows, got {num_layers}")
    if layers.numel() == 0:
        raise ValueError("no tokens: cannot score an empty set")
    savings = 1.0 - layers.double() / num_layers  # (T,)
    similarity = exit_similarity(layers, kl)  # (T,)
    return Suitability(
        score=float((savings * similarity).mean()),
        oracle_depth_savings=float(savings.mean()),
        mean_exit_similarity=float(similarity.mean()),
    )
