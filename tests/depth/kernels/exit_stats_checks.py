"""Tolerances and assertions shared by the exit-statistics tests (imported by name from this folder)."""

from __future__ import annotations

import torch

from cotexit.depth.kernels import ExitStats

# (rtol, atol) of fused statistics against dense float32 logits of the same rounded inputs:
# only the summation order differs, so every dtype gets float32 tolerances.
SAME_MATH_TOL = {torch.float32: (1e-5, 1e-4), torch.bfloat16: (1e-5, 1e-4), torch.float16: (1e-5, 1e-4)}
# against a model-style LM head whose logits are rounded to the head's dtype
MODEL_DTYPE_TOL = {torch.float32: (1e-5, 1e-4), torch.bfloat16: (1.6e-2, 5e-2), torch.float16: (2e-3, 1e-2)}


def assert_stats_close(got: ExitStats, want: ExitStats, tol: tuple[float, float]) -> None:
    rtol, atol = tol
    torch.testing.assert_close(got.max, want.max, rtol=rtol, atol=atol)
    torch.testing.assert_close(got.second, want.second, rtol=rtol, atol=atol)
    torch.testing.assert_close(got.lse, want.lse, rtol=rtol, atol=atol)
    assert got.max.dtype == got.second.dtype == got.lse.dtype == torch.float32
    assert got.argmax.dtype == torch.int64


def assert_valid_argmax(got: ExitStats, logits: torch.Tensor, atol: float) -> None:
    """The returned index holds the max, up to `atol` (near-ties may pick either index)."""
    at_arg = logits.gather(1, got.argmax[:, None])[:, 0]  # (R,)
    torch.testing.assert_close(at_arg, logits.max(dim=1).values, rtol=0, atol=atol)
