"""The result type of the exit-confidence kernels and the input checks every backend shares.

Owns `ExitStats` (per-row max, second max, log-sum-exp and argmax of the
logits the final norm + LM head would give) and `check_inputs`, which raises
`ValueError`/`TypeError` naming the bad shape, dtype or value. It knows
nothing about how the statistics are computed: that is `reference.py` (torch)
and `triton_kernel.py` + `launch.py` (Triton); `dispatch.py` picks one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

FLOAT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


@dataclass(frozen=True)
class ExitStats:
    """Softmax statistics of one row of logits each, all of shape (R,).

    `max`, `second` and `lse` are float32; `argmax` is int64 and is the first
    index reaching `max` (as `torch.argmax`). `second` is the second largest
    logit counting ties (so it equals `max` when the top value is tied) and
    is -inf when the vocabulary has one entry.

    >>> s = ExitStats(torch.tensor([2.0]), torch.tensor([1.0]),
    ...               torch.tensor([2.0]).logaddexp(torch.tensor([1.0])), torch.tensor([0]))
    >>> round(s.top1_prob.item(), 4), round(s.margin.item(), 4)
    (0.7311, 0.4621)
    """

    max: torch.Tensor  # (R,) float32
    second: torch.Tensor  # (R,) float32
    lse: torch.Tensor  # (R,) float32
    argmax: torch.Tensor  # (R,) int64

    @property
    def top1_prob(self) -> torch.Tensor:
        """Softmax probability of the argmax token, exp(max - lse).  # (R,)"""
        return torch.exp(self.max - self.lse)

    @property
    def second_prob(self) -> torch.Tensor:
        """Softmax probability of the runner-up, exp(second - lse).  # (R,)"""
        return torch.exp(self.second - self.lse)

    @property
    def margin(self) -> torch.Tensor:
        """Top-1 minus top-2 probability, in [0, 1].  # (R,)"""
        return self.top1_prob - self.second_prob

    def __len__(self) -> int:
        return self.max.shape[0]

    def to(self, device: torch.device | str) -> ExitStats:
        """The same statistics on `device`."""
        return ExitStats(*(t.to(device) for t in (self.max, self.second, self.lse, self.argmax)))


def check_inputs(
    hidden: torch.Tensor,
    norm_weight: torch.Tensor,
    lm_head: torch.Tensor,
    eps: float,
    block_v: int | None,
) -> None:
    """Raise `TypeError`/`ValueError` naming what is wrong with the arguments of `exit_stats`."""
    for name, t in (("hidden", hidden), ("norm_weight", norm_weight), ("lm_head", lm_head)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dtype not in FLOAT_DTYPES:
            allowed = ", ".join(str(d) for d in FLOAT_DTYPES)
            raise ValueError(f"{name} has dtype {t.dtype}; allowed: {allowed}")
    if hidden.dim() != 2:
        raise ValueError(f"hidden must be 2-D (rows, hidden), got shape {tuple(hidden.shape)}")
    if lm_head.dim() != 2:
        raise ValueError(f"lm_head must be 2-D (vocab, hidden), got shape {tuple(lm_head.shape)}")
    h = hidden.shape[1]
    vocab, h_head = lm_head.shape
    if h == 0:
        raise ValueError(f"hidden has hidden size 0 (shape {tuple(hidden.shape)})")
    if vocab == 0:
        raise ValueError(f"lm_head has an empty vocabulary (shape {tuple(lm_head.shape)})")
    if h_head != h:
        raise ValueError(
            f"lm_head shape {tuple(lm_head.shape)} does not match hidden shape {tuple(hidden.shape)}: "
            f"expected (vocab, {h})"
        )
    if tuple(norm_weight.shape) != (h,):
        raise ValueError(f"norm_weight must have shape ({h},), got {tuple(norm_weight.shape)}")
    devices = {hidden.device, norm_weight.device, lm_head.device}
    if len(devices) != 1:
        raise ValueError(
            f"hidden, norm_weight and lm_head must be on one device, got {hidden.device}, "
            f"{norm_weight.device}, {lm_head.device}"
        )
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    if block_v is not None and (isinstance(block_v, bool) or not isinstance(block_v, int) or block_v < 1):
        raise ValueError(f"block_v must be a positive int or None, got {block_v!r}")
