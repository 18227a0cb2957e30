"""Launcher of the Triton exit-statistics kernels: checks, block sizes, grid, buffers.

`triton_exit_stats` has the signature of `reference_exit_stats`. It checks
what the kernels assume (LM head contiguous along the hidden size, block_v a
power of two >= 16), picks block sizes, splits the vocabulary so that about
`4 x SMs` programs run, and calls the partial kernel then the combine kernel.
`triton` and the kernel module are imported on first call, so importing this
module on a CPU-only install is free. The kernels themselves are in
`triton_kernel.py`; choosing between Triton and torch is `dispatch.py`'s job.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import torch

from cotexit.depth.kernels.stats import ExitStats, check_inputs

DEFAULT_BLOCK_V = 128
MAX_BLOCK_R = 64
MAX_BLOCK_K = 64
MIN_DOT = 16  # tl.dot needs every dimension >= 16
PROGRAMS_PER_SM = 4
INTERPRETER_PROGRAMS = 8  # CPU interpreter: few programs, each doing many tiles


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def _kernels() -> ModuleType:
    return importlib.import_module("cotexit.depth.kernels.triton_kernel")


def is_interpreted() -> bool:
    """Whether the kernels were built for Triton's CPU interpreter (TRITON_INTERPRET=1 at import)."""
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(_kernels().exit_stats_partial_kernel, InterpretedFunction)


def check_triton_inputs(hidden: torch.Tensor, lm_head: torch.Tensor, block_v: int | None) -> None:
    """Raise `ValueError` for inputs the kernels cannot take (beyond `check_inputs`)."""
    if lm_head.stride(1) != 1:
        raise ValueError(
            f"lm_head must be contiguous along the hidden size (stride(1) == 1), got strides "
            f"{lm_head.stride()} for shape {tuple(lm_head.shape)}; pass lm_head.contiguous()"
        )
    if block_v is not None and (block_v < MIN_DOT or block_v & (block_v - 1)):
        raise ValueError(f"block_v for the triton backend must be a power of two >= {MIN_DOT}, got {block_v}")
    if hidden.device.type != "cuda" and not is_interpreted():
        raise ValueError(
            f"the triton backend needs CUDA tensors, got device {hidden.device}; "
            "set TRITON_INTERPRET=1 before importing triton to interpret on CPU"
        )


def plan(rows: int, hidden_size: int, vocab: int, block_v: int | None, programs: int) -> dict[str, int]:
    """Block sizes and vocabulary split for a problem shape, as kernel keyword arguments."""
    block_r = min(MAX_BLOCK_R, max(MIN_DOT, _next_pow2(rows)))
    block_k = min(MAX_BLOCK_K, max(MIN_DOT, _next_pow2(hidden_size)))
    block_v = DEFAULT_BLOCK_V if block_v is None else block_v
    n_tiles = -(-vocab // block_v)
    row_blocks = -(-rows // block_r)
    splits = max(1, min(n_tiles, programs // row_blocks))
    tiles_per_split = -(-n_tiles // splits)
    splits = -(-n_tiles // tiles_per_split)  # no empty split
    return dict(
        BLOCK_R=block_r,
        BLOCK_K=block_k,
        BLOCK_V=block_v,
        n_tiles=n_tiles,
        row_blocks=row_blocks,
        splits=splits,
        tiles_per_split=tiles_per_split,
    )


def _target_programs(device: torch.device) -> int:
    if device.type == "cuda":
        return PROGRAMS_PER_SM * torch.cuda.get_device_properties(device).multi_processor_count
    return INTERPRETER_PROGRAMS


def triton_exit_stats(
    hidden: torch.Tensor,
    norm_weight: torch.Tensor,
    lm_head: torch.Tensor,
    *,
    eps: float,
    block_v: int | None = None,
) -> ExitStats:
    """Exit statistics with the Triton kernels; same contract as `reference_exit_stats`."""
    check_inputs(hidden, norm_weight, lm_head, eps, block_v)
    check_triton_inputs(hidden, lm_head, block_v)
    rows, hidden_size = hidden.shape
    vocab = lm_head.shape[0]
    device = hidden.device
    f32 = dict(dtype=torch.float32, device=device)
    if rows == 0:
        empty = torch.empty(0, **f32)
        return ExitStats(empty, empty.clone(), empty.clone(), torch.empty(0, dtype=torch.int64, device=device))
    p = plan(rows, hidden_size, vocab, block_v, _target_programs(device))
    kernels = _kernels()
    part_max = torch.empty(p["splits"], rows, **f32)  # (S, R)
    part_second = torch.empty(p["splits"], rows, **f32)  # (S, R)
    part_sum = torch.empty(p["splits"], rows, **f32)  # (S, R)
    part_arg = torch.empty(p["splits"], rows, dtype=torch.int64, device=device)  # (S, R)
    norm_weight = norm_weight.contiguous()
    kernels.exit_stats_partial_kernel[(p["row_blocks"], p["splits"])](
        hidden,
        norm_weight,
        lm_head,
        part_max,
        part_second,
        part_sum,
        part_arg,
        rows,
        hidden_size,
        vocab,
        p["n_tiles"],
        p["tiles_per_split"],
        hidden.stride(0),
        hidden.stride(1),
        lm_head.stride(0),
        float(eps),
        BLOCK_R=p["BLOCK_R"],
        BLOCK_V=p["BLOCK_V"],
        BLOCK_K=p["BLOCK_K"],
        DOT_FP32=is_interpreted(),  # the interpreter's bfloat16 tl.dot multiplies raw bits
    )
    out_max = torch.empty(rows, **f32)  # (R,)
    out_second = torch.empty(rows, **f32)  # (R,)
    out_lse = torch.empty(rows, **f32)  # (R,)
    out_arg = torch.empty(rows, dtype=torch.int64, device=device)  # (R,)
    kernels.exit_stats_combine_kernel[(rows,)](
        part_max,
        part_second,
        part_sum,
        part_arg,
        out_max,
        out_second,
        out_lse,
        out_arg,
        rows,
        p["splits"],
        BLOCK_S=_next_pow2(p["splits"]),
    )
    return ExitStats(max=out_max, second=out_second, lse=out_lse, argmax=out_arg)
