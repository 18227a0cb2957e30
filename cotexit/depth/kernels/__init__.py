"""Fused exit-confidence kernels: final RMSNorm + LM head + online softmax statistics.

At an intermediate layer, `exit_stats` gives per row the max logit, second
max, log-sum-exp and argmax of the distribution the model's own final norm
and LM head would produce, without the (rows, vocab) logits; `ExitStats`
turns them into top-1 probability and top-1 minus top-2 margin.

Modules: `stats` (result type, checks), `reference` (chunked torch: reference
and CPU path), `triton_kernel` (`@triton.jit` code), `launch` (its launcher),
`dispatch` (backend choice). Thresholds and exit decisions are not here.

>>> import torch
>>> from cotexit.depth.kernels import exit_stats
>>> s = exit_stats(torch.randn(4, 32), torch.ones(32), torch.randn(1000, 32), eps=1e-6)
>>> s.top1_prob.shape
torch.Size([4])
"""

from cotexit.depth.kernels.dispatch import exit_stats
from cotexit.depth.kernels.stats import ExitStats

__all__ = ["ExitStats", "exit_stats"]
