"""`exit_stats`: the one entry point, choosing the Triton or torch backend.

The backend is, in order of precedence: the `backend` argument, the
`COTEXIT_KERNEL_BACKEND` environment variable, or automatic: Triton for CUDA
tensors when `triton` can be imported, the chunked torch reference otherwise.
The automatic choice is made once per device type and cached. Asking for
"triton" where it cannot run (no triton, or CPU tensors without
`TRITON_INTERPRET=1`) raises `ValueError` instead of falling back silently.

This module owns only the choice; the computations are in `reference.py` and
`launch.py` (+ `triton_kernel.py`).
"""

from __future__ import annotations

import functools
import importlib.util
import os

import torch

from cotexit.depth.kernels.reference import reference_exit_stats
from cotexit.depth.kernels.stats import ExitStats

ENV_VAR = "COTEXIT_KERNEL_BACKEND"
BACKENDS = ("torch", "triton")


@functools.cache
def triton_available() -> bool:
    """Whether `triton` is installed (found without importing it)."""
    return importlib.util.find_spec("triton") is not None


@functools.cache
def _auto_backend(device_type: str) -> str:
    return "triton" if device_type == "cuda" and triton_available() else "torch"


def resolve_backend(device: torch.device, backend: str | None = None) -> str:
    """The backend `exit_stats` would use for tensors on `device`.

    >>> resolve_backend(torch.device("cpu"), "torch")
    'torch'
    """
    source = "backend argument"
    if backend is None:
        backend, source = os.environ.get(ENV_VAR) or "auto", f"${ENV_VAR}"
    if backend == "auto":
        return _auto_backend(device.type)
    if backend not in BACKENDS:
        raise ValueError(f"unknown kernel backend {backend!r} (from {source}); allowed: auto, {', '.join(BACKENDS)}")
    if backend == "triton" and not triton_available():
        raise ValueError(f"kernel backend 'triton' (from {source}) needs the triton package: pip install triton")
    return backend


def exit_stats(
    hidden: torch.Tensor,
    norm_weight: torch.Tensor,
    lm_head: torch.Tensor,
    *,
    eps: float,
    block_v: int | None = None,
    backend: str | None = None,
) -> ExitStats:
    """Max, second max, log-sum-exp and argmax of `lm_head @ rms_norm(hidden)` per row.

    hidden (R, H), norm_weight (H,), lm_head (V, H); `eps` is the final norm's
    epsilon. The (R, V) logits are never materialised. `block_v` is the
    vocabulary tile (default per backend), `backend` one of "torch",
    "triton", "auto" (see the module docstring).

    >>> h, g, w = torch.randn(2, 16), torch.ones(16), torch.randn(100, 16)
    >>> s = exit_stats(h, g, w, eps=1e-6, backend="torch")
    >>> bool(((s.margin >= 0) & (s.margin <= s.top1_prob)).all())
    True
    """
    if not isinstance(hidden, torch.Tensor):
        raise TypeError(f"hidden must be a torch.Tensor, got {type(hidden).__name__}")
    if resolve_backend(hidden.device, backend) == "triton":
        from cotexit.depth.kernels.launch import triton_exit_stats

        return triton_exit_stats(hidden, norm_weight, lm_head, eps=eps, block_v=block_v)
    return reference_exit_stats(hidden, norm_weight, lm_head, eps=eps, block_v=block_v)
