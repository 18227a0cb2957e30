"""Fixtures for the exit-statistics kernels: random inputs of odd shapes, per-dtype tolerances.

On a machine without CUDA, the top-level `tests/conftest.py` sets
`TRITON_INTERPRET=1` before any test imports triton, so the Triton kernels
run in Triton's CPU interpreter.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def make_inputs():
    """Factory of (hidden (R, H) float32, norm_weight (H,) float32, lm_head (V, H) in `dtype`)."""

    def make(rows: int, hidden: int, vocab: int, dtype: torch.dtype = torch.float32, seed: int = 0):
        gen = torch.Generator().manual_seed(seed + 1000 * rows + 10 * hidden + vocab)
        h = torch.randn(rows, hidden, generator=gen) * 3.0  # (R, H)
        g = torch.rand(hidden, generator=gen) + 0.5  # (H,)
        w = (torch.randn(vocab, hidden, generator=gen) * (3.0 / hidden**0.5)).to(dtype)  # (V, H)
        return h, g, w

    return make


@pytest.fixture
def tied_inputs():
    """Inputs whose top logit is tied inside a vocabulary tile and across tiles.

    Hidden entries are +-1 and eps is 0, so the norm is exactly the weight;
    weight and head are small integers, so every logit is exact in any dtype
    and summation order. Row r's largest logit sits at 10 + r and again at
    200 + r (and at 15 for row 0); nothing else reaches it. Returns (hidden,
    norm_weight, lm_head float32, eps, expected argmax).
    """
    gen = torch.Generator().manual_seed(7)
    rows, hidden, vocab = 5, 24, 300
    h = torch.randint(0, 2, (rows, hidden), generator=gen).float() * 2 - 1  # (R, H)
    g = torch.randint(1, 3, (hidden,), generator=gen).float()  # (H,)
    w = torch.randint(-1, 2, (vocab, hidden), generator=gen).float()  # (V, H)
    for r in range(rows):
        w[10 + r] = 2 * h[r]
        w[200 + r] = 2 * h[r]
    w[15] = 2 * h[0]
    return h, g, w, 0.0, torch.arange(rows) + 10


@pytest.fixture
def dense_logits():
    """Float32 logits of the rounded normed input: the fused kernels' arithmetic, materialised."""
    from cotexit.depth.kernels.reference import rms_norm

    def dense(h: torch.Tensor, g: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
        return rms_norm(h, g, eps, w.dtype).float() @ w.float().T  # (R, V)

    return dense
