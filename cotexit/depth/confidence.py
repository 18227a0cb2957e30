"""How sure an intermediate layer is of its token: softmax top-1, top-1 minus top-2, or state saturation.

Owns `confidence`. Softmax and margin come from the exit-statistics kernel
(`cotexit.depth.kernels.exit_stats`: final norm + LM head + online softmax
statistics, never materialising [rows, vocab] logits); saturation is the
cosine between a layer's state and the state at the previous exit point
(CALM), which needs no vocabulary at all.
"""

from __future__ import annotations

import torch

from cotexit.depth.kernels import exit_stats
from cotexit.depth.stack import LayerStack


def confidence(
    stack: LayerStack, hidden: torch.Tensor, measure: str, previous: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(confidence (B,), argmax token (B,)) of states `hidden` (B, H) at an exit point."""
    norm = stack.inner.norm
    stats = exit_stats(hidden, norm.weight, stack.model.lm_head.weight, eps=float(norm.variance_epsilon))
    if measure == "softmax":
        return stats.top1_prob, stats.argmax
    if measure == "margin":
        return stats.margin, stats.argmax
    if measure == "saturation":
        if previous is None:
            return torch.zeros(hidden.shape[0], device=hidden.device), stats.argmax
        cosine = torch.nn.functional.cosine_similarity(hidden.float(), previous.float(), dim=-1)  # (B,)
        return cosine.clamp(min=0.0), stats.argmax
    raise ValueError(f"unknown confidence measure {measure!r}")
