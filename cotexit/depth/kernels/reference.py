"""Chunked torch implementation of the exit statistics: the reference and the CPU path.

`reference_exit_stats` walks the vocabulary in tiles of `block_v` rows of the
LM head, keeping per row a running max, second max, rescaled sum of
exponentials and argmax (online softmax), so the largest temporary is
(rows, block_v) instead of the (rows, vocab) logits. `unfused_exit_stats` is
the naive version (norm, full logits, softmax, top-2) that the tests and the
benchmark compare against; nothing in the library should call it.

Numerics, shared with the Triton kernel: the RMSNorm of Llama/Qwen2,
``x * rsqrt(mean(x**2) + eps) * weight``, is computed in float32 (weight
included) and rounded once to the LM head's dtype, which is what the matmul
sees. Hugging Face rounds `x * rsqrt(...)` to the input dtype before
multiplying by the weight; for bfloat16/float16 models that second rounding
is the only difference. Logits are accumulated in float32 and never rounded
back to the head's dtype, unlike a model's `lm_head`, whose bfloat16 logits
are what `unfused_exit_stats` reproduces by default.

No backend tracks gradients: the statistics are for decisions, and a graph
through every tile would keep the tiles alive. Dispatch between this and
Triton lives in `dispatch.py`.
"""

from __future__ import annotations

import torch

from cotexit.depth.kernels.stats import ExitStats, check_inputs

DEFAULT_BLOCK_V = 4096


def rms_norm(hidden: torch.Tensor, norm_weight: torch.Tensor, eps: float, dtype: torch.dtype) -> torch.Tensor:
    """Llama/Qwen2 RMSNorm computed in float32, rounded once to `dtype`.  # (R, H)"""
    x = hidden.float()  # (R, H)
    rstd = torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)  # (R, 1)
    return (x * rstd * norm_weight.float()).to(dtype)  # (R, H)


def tile_stats(logits: torch.Tensor, offset: int) -> tuple[torch.Tensor, ...]:
    """Max, second max, sum of exp(logit - max) and global argmax of one (R, T) float32 tile."""
    tile_max, local_arg = logits.max(dim=1)  # (R,), (R,) first index on ties
    if logits.shape[1] > 1:
        rest = logits.scatter(1, local_arg[:, None], float("-inf"))  # (R, T)
        tile_second = rest.max(dim=1).values  # (R,)
    else:
        tile_second = torch.full_like(tile_max, float("-inf"))  # (R,)
    tile_sum = torch.exp(logits - tile_max[:, None]).sum(dim=1)  # (R,)
    return tile_max, tile_second, tile_sum, local_arg + offset


def merge_stats(
    a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, ...]:
    """Combine (max, second, sumexp, argmax) of two vocabulary ranges, `a` before `b`.

    Ties on the max keep `a`'s argmax, so the result is the first index when
    ranges are merged in vocabulary order.
    """
    max_a, second_a, sum_a, arg_a = a
    max_b, second_b, sum_b, arg_b = b
    new_max = torch.maximum(max_a, max_b)  # (R,)
    second = torch.maximum(torch.minimum(max_a, max_b), torch.maximum(second_a, second_b))  # (R,)
    total = sum_a * torch.exp(max_a - new_max) + sum_b * torch.exp(max_b - new_max)  # (R,)
    arg = torch.where(max_b > max_a, arg_b, arg_a)  # (R,)
    return new_max, second, total, arg


@torch.no_grad()
def reference_exit_stats(
    hidden: torch.Tensor,
    norm_weight: torch.Tensor,
    lm_head: torch.Tensor,
    *,
    eps: float,
    block_v: int | None = None,
) -> ExitStats:
    """Exit statistics of `lm_head @ rms_norm(hidden)` without the (R, V) logits.

    >>> h, g, w = torch.randn(3, 8), torch.ones(8), torch.randn(50, 8)
    >>> s = reference_exit_stats(h, g, w, eps=1e-6, block_v=16)
    >>> s.argmax.shape, s.top1_prob.dtype
    (torch.Size([3]), torch.float32)
    """
    check_inputs(hidden, norm_weight, lm_head, eps, block_v)
    block_v = DEFAULT_BLOCK_V if block_v is None else block_v
    rows, vocab = hidden.shape[0], lm_head.shape[0]
    x = rms_norm(hidden, norm_weight, eps, lm_head.dtype).float()  # (R, H)
    state = None
    for start in range(0, vocab, block_v):
        w = lm_head[start : start + block_v].float()  # (T, H), a view when already float32
        logits = x @ w.T  # (R, T) float32
        tile = tile_stats(logits, start)
        state = tile if state is None else merge_stats(state, tile)
    assert state is not None and state[0].shape == (rows,)
    new_max, second, total, arg = state
    return ExitStats(max=new_max, second=second, lse=new_max + torch.log(total), argmax=arg)


@torch.no_grad()
def unfused_exit_stats(
    hidden: torch.Tensor,
    norm_weight: torch.Tensor,
    lm_head: torch.Tensor,
    *,
    eps: float,
    logits_dtype: torch.dtype | None = None,
) -> ExitStats:
    """Naive statistics: norm, full (R, V) logits, softmax, top-2. For tests and benchmarks only.

    `logits_dtype=None` computes the logits in the head's dtype, as a model's
    `lm_head` does, then upcasts them; `torch.float32` upcasts the rounded
    normed input and the head first, matching the fused kernels' numerics.
    """
    check_inputs(hidden, norm_weight, lm_head, eps, None)
    x = rms_norm(hidden, norm_weight, eps, lm_head.dtype)  # (R, H)
    if logits_dtype is None:
        logits = (x @ lm_head.T).float()  # (R, V)
    else:
        logits = (x.to(logits_dtype) @ lm_head.to(logits_dtype).T).float()  # (R, V)
    probs = torch.softmax(logits, dim=-1)  # (R, V)
    top_p, top_i = probs.topk(min(2, logits.shape[1]), dim=-1)  # (R, k)
    argmax = logits.argmax(dim=-1)  # (R,) first index on ties
    max_logit = logits.gather(1, argmax[:, None])[:, 0]  # (R,)
    if top_i.shape[1] == 2:
        second = logits.gather(1, top_i[:, 1:2])[:, 0]  # (R,)
    else:
        second = torch.full_like(max_logit, float("-inf"))  # (R,)
    lse = max_logit - torch.log(top_p[:, 0])  # (R,)
    return ExitStats(max=max_logit, second=second, lse=lse, argmax=argmax)
