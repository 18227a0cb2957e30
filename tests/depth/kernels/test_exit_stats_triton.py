"""The Triton kernels against the torch reference: odd shapes, dtypes, ties, launcher checks.

Skipped when triton is not installed. Without CUDA the folder's conftest sets
TRITON_INTERPRET=1, so the same kernels run in Triton's CPU interpreter.
"""

from __future__ import annotations

import pytest
import torch
from exit_stats_checks import SAME_MATH_TOL, assert_stats_close, assert_valid_argmax

from cotexit.depth.kernels import exit_stats
from cotexit.depth.kernels.dispatch import ENV_VAR
from cotexit.depth.kernels.reference import reference_exit_stats

pytest.importorskip("triton", reason="triton is not installed (pip install triton); the torch reference is tested")

from cotexit.depth.kernels.launch import plan, triton_exit_stats

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
DTYPES = [torch.float32, torch.bfloat16, torch.float16]
SHAPES = [(r, h, v) for r in (1, 3, 17) for h in (24, 40) for v in (1, 31, 1000, 4099)]
EPS = 1e-6


def on_device(*tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.to(DEVICE) for t in tensors]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("rows,hidden,vocab", SHAPES)
def test_triton_matches_reference(make_inputs, dense_logits, rows, hidden, vocab, dtype):
    h, g, w = make_inputs(rows, hidden, vocab, dtype)
    want = reference_exit_stats(h, g, w, eps=EPS)
    block_v = 16 if vocab < 100 else 128  # several tiles, several vocabulary splits, a ragged last tile
    got = triton_exit_stats(*on_device(h, g, w), eps=EPS, block_v=block_v)
    assert_stats_close(got.to("cpu"), want, SAME_MATH_TOL[dtype])
    assert_valid_argmax(got.to("cpu"), dense_logits(h, g, w, EPS), SAME_MATH_TOL[dtype][1])


def test_triton_several_row_blocks_and_strided_hidden(make_inputs):
    h, g, w = make_inputs(70, 40, 300, torch.bfloat16)  # 70 rows: two row blocks of 64
    assert plan(70, 40, 300, 64, programs=8)["row_blocks"] == 2
    want = reference_exit_stats(h, g, w, eps=EPS)
    strided = h.T.contiguous().T  # (R, H) column-major
    got = triton_exit_stats(*on_device(strided, g, w), eps=EPS, block_v=64)
    assert_stats_close(got.to("cpu"), want, SAME_MATH_TOL[torch.bfloat16])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_triton_ties_give_first_index(tied_inputs, dtype):
    h, g, w, eps, expected = tied_inputs
    s = triton_exit_stats(*on_device(h, g, w.to(dtype)), eps=eps, block_v=16)  # ties across splits too
    assert torch.equal(s.argmax.cpu(), expected)
    assert torch.equal(s.second, s.max)


def test_plan_has_no_empty_split():
    for vocab in (1, 16, 17, 1000, 4099, 151936):
        for programs in (1, 8, 528):
            p = plan(1, 1536, vocab, 128, programs)
            assert (p["splits"] - 1) * p["tiles_per_split"] < p["n_tiles"] <= p["splits"] * p["tiles_per_split"]


@pytest.mark.parametrize(
    "block_v,match", [(24, "power of two >= 16, got 24"), (8, "power of two >= 16, got 8")]
)
def test_triton_rejects_bad_block_v(make_inputs, block_v, match):
    h, g, w = make_inputs(2, 24, 31)
    with pytest.raises(ValueError, match=match):
        triton_exit_stats(*on_device(h, g, w), eps=EPS, block_v=block_v)


def test_triton_rejects_head_strided_along_hidden(make_inputs):
    h, g, w = make_inputs(2, 24, 31)
    head = w.T.contiguous().T  # (V, H) with stride(1) == V
    with pytest.raises(ValueError, match=r"lm_head must be contiguous along the hidden size .*strides \(1, 31\)"):
        triton_exit_stats(*on_device(h, g, head), eps=EPS)


def test_dispatch_env_var_selects_triton(make_inputs, monkeypatch):
    from cotexit.depth.kernels import launch

    calls = []
    monkeypatch.setattr(launch, "triton_exit_stats", lambda *a, **k: calls.append(1) or triton_exit_stats(*a, **k))
    h, g, w = on_device(*make_inputs(3, 40, 1000))
    monkeypatch.setenv(ENV_VAR, "triton")
    got = exit_stats(h, g, w, eps=EPS)
    assert calls == [1]
    want = exit_stats(h, g, w, eps=EPS, backend="torch")
    assert_stats_close(got, want, SAME_MATH_TOL[torch.float32])
