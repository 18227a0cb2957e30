"""Triton kernels of the exit statistics: RMSNorm + LM-head tiles + online softmax statistics.

Imports `triton` at module import, so import this module lazily (`launch.py`
does). Set `TRITON_INTERPRET=1` before the first import to run the kernels
on CPU tensors with Triton's interpreter.

`exit_stats_partial_kernel`: program (i, j) takes rows block i (BLOCK_R rows)
and vocabulary split j (a run of consecutive BLOCK_V tiles). It computes the
rows' mean square once, then per tile accumulates the (BLOCK_R, BLOCK_V)
logits in float32 with `tl.dot` over BLOCK_K slices of the hidden size (the
normalisation `x * rstd * weight`, rounded to the head's dtype, is folded
into the load of each slice: BLOCK_R*H multiplies per tile against the
BLOCK_R*BLOCK_V*H of the dot), and folds the tile into running max, second
max, sum of exp(logit - max) and argmax. Results go to (splits, R) buffers.
With DOT_FP32 (set by the launcher under the interpreter) both dot operands
are float32 holding values of the head's dtype, which is the same
arithmetic as the compiled low-precision dot with float32 accumulation.

`exit_stats_combine_kernel`: one program per row merges its splits' partials
into max, second, log-sum-exp and the first argmax.

Splitting the vocabulary keeps the GPU busy at decode, where R is 1-64 rows
and a rows-only grid would launch a handful of programs. Grid sizes, block
sizes and checks are the launcher's business (`launch.py`).
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _round_to_bfloat16(x):
    """Round float32 to the nearest bfloat16 (ties to even), kept in float32.

    Only for the interpreter, whose float32 -> bfloat16 cast truncates and
    whose bfloat16 `tl.dot` multiplies the raw bits; compiled kernels cast.
    """
    bits = x.to(tl.uint32, bitcast=True)
    bits = bits + 0x7FFF + ((bits >> 16) & 1)
    return ((bits >> 16) << 16).to(tl.float32, bitcast=True)


@triton.jit
def exit_stats_partial_kernel(
    x_ptr,
    norm_ptr,
    head_ptr,
    pmax_ptr,
    psecond_ptr,
    psum_ptr,
    parg_ptr,
    R,
    H,
    V,
    n_tiles,
    tiles_per_split,
    stride_xr,
    stride_xh,
    stride_hv,
    eps,
    BLOCK_R: tl.constexpr,
    BLOCK_V: tl.constexpr,
    BLOCK_K: tl.constexpr,
    DOT_FP32: tl.constexpr,
):
    pid_r = tl.program_id(0)
    pid_s = tl.program_id(1)
    rows = pid_r * BLOCK_R + tl.arange(0, BLOCK_R)  # (BLOCK_R,)
    row_ok = rows < R
    ks = tl.arange(0, BLOCK_K)  # (BLOCK_K,)
    cols = tl.arange(0, BLOCK_V)  # (BLOCK_V,)

    sum_sq = tl.zeros((BLOCK_R,), dtype=tl.float32)
    for k0 in range(0, H, BLOCK_K):
        k = k0 + ks
        x = tl.load(
            x_ptr + rows[:, None] * stride_xr + k[None, :] * stride_xh,
            mask=row_ok[:, None] & (k[None, :] < H),
            other=0.0,
        ).to(tl.float32)  # (BLOCK_R, BLOCK_K)
        sum_sq += tl.sum(x * x, axis=1)
    mean_sq = tl.where(row_ok, sum_sq / H + eps, 1.0)  # (BLOCK_R,) padding rows: 1, never 0 when eps is 0
    rstd = 1.0 / tl.sqrt(mean_sq)  # (BLOCK_R,)

    run_max = tl.full((BLOCK_R,), float("-inf"), dtype=tl.float32)
    run_second = tl.full((BLOCK_R,), float("-inf"), dtype=tl.float32)
    run_sum = tl.zeros((BLOCK_R,), dtype=tl.float32)
    run_arg = tl.zeros((BLOCK_R,), dtype=tl.int64)
    tile_start = pid_s * tiles_per_split
    tile_end = tl.minimum(tile_start + tiles_per_split, n_tiles)
    for t in range(tile_start, tile_end):
        v = t * BLOCK_V + cols  # (BLOCK_V,)
        v_ok = v < V
        head_rows = head_ptr + v.to(tl.int64) * stride_hv  # (BLOCK_V,) int64 offsets: V*H may pass 2**31
        acc = tl.zeros((BLOCK_R, BLOCK_V), dtype=tl.float32)
        for k0 in range(0, H, BLOCK_K):
            k = k0 + ks
            k_ok = k < H
            x = tl.load(
                x_ptr + rows[:, None] * stride_xr + k[None, :] * stride_xh,
                mask=row_ok[:, None] & k_ok[None, :],
                other=0.0,
            ).to(tl.float32)  # (BLOCK_R, BLOCK_K)
            g = tl.load(norm_ptr + k, mask=k_ok, other=0.0).to(tl.float32)  # (BLOCK_K,)
            xn = x * rstd[:, None] * g[None, :]  # (BLOCK_R, BLOCK_K) float32
            w = tl.load(
                head_rows[None, :] + k[:, None],
                mask=v_ok[None, :] & k_ok[:, None],
                other=0.0,
            )  # (BLOCK_K, BLOCK_V)
            if DOT_FP32:
                if head_ptr.dtype.element_ty == tl.bfloat16:
                    xn = _round_to_bfloat16(xn)
                else:
                    xn = xn.to(head_ptr.dtype.element_ty).to(tl.float32)
                acc = tl.dot(xn, w.to(tl.float32), acc, input_precision="ieee")
            elif head_ptr.dtype.element_ty == tl.float32:
                acc = tl.dot(xn, w, acc, input_precision="ieee")
            else:
                acc = tl.dot(xn.to(head_ptr.dtype.element_ty), w, acc)
        logits = tl.where(v_ok[None, :], acc, float("-inf"))  # (BLOCK_R, BLOCK_V)
        tile_max = tl.max(logits, axis=1)  # (BLOCK_R,)
        local_arg = tl.argmax(logits, axis=1, tie_break_left=True)  # (BLOCK_R,)
        rest = tl.where(cols[None, :] == local_arg[:, None], float("-inf"), logits)  # (BLOCK_R, BLOCK_V)
        tile_second = tl.max(rest, axis=1)  # (BLOCK_R,)
        new_max = tl.maximum(run_max, tile_max)
        run_sum = run_sum * tl.exp(run_max - new_max) + tl.sum(tl.exp(logits - new_max[:, None]), axis=1)
        run_second = tl.maximum(tl.minimum(run_max, tile_max), tl.maximum(run_second, tile_second))
        run_arg = tl.where(tile_max > run_max, (t * BLOCK_V + local_arg).to(tl.int64), run_arg)
        run_max = new_max

    out = pid_s * R + rows
    tl.store(pmax_ptr + out, run_max, mask=row_ok)
    tl.store(psecond_ptr + out, run_second, mask=row_ok)
    tl.store(psum_ptr + out, run_sum, mask=row_ok)
    tl.store(parg_ptr + out, run_arg, mask=row_ok)


@triton.jit
def exit_stats_combine_kernel(
    pmax_ptr,
    psecond_ptr,
    psum_ptr,
    parg_ptr,
    max_ptr,
    second_ptr,
    lse_ptr,
    arg_ptr,
    R,
    S,
    BLOCK_S: tl.constexpr,
):
    r = tl.program_id(0)
    sp = tl.arange(0, BLOCK_S)  # (BLOCK_S,)
    ok = sp < S
    part_max = tl.load(pmax_ptr + sp * R + r, mask=ok, other=float("-inf"))  # (BLOCK_S,)
    part_second = tl.load(psecond_ptr + sp * R + r, mask=ok, other=float("-inf"))
    part_sum = tl.load(psum_ptr + sp * R + r, mask=ok, other=0.0)
    part_arg = tl.load(parg_ptr + sp * R + r, mask=ok, other=0)
    top = tl.max(part_max, axis=0)
    first = tl.argmax(part_max, axis=0, tie_break_left=True)  # earliest split holding the max
    arg = tl.sum(tl.where(sp == first, part_arg, 0), axis=0)
    runner_up = tl.max(tl.where(sp == first, float("-inf"), part_max), axis=0)
    second = tl.maximum(runner_up, tl.max(part_second, axis=0))
    total = tl.sum(part_sum * tl.exp(part_max - top), axis=0)
    tl.store(max_ptr + r, top)
    tl.store(second_ptr + r, second)
    tl.store(lse_ptr + r, top + tl.log(total))
    tl.store(arg_ptr + r, arg)
