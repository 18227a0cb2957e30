"""The chunked torch reference against dense logits, its edge cases, the input checks and dispatch."""

from __future__ import annotations

import pytest
import torch
from exit_stats_checks import MODEL_DTYPE_TOL, SAME_MATH_TOL, assert_stats_close, assert_valid_argmax

from cotexit.depth.kernels import exit_stats
from cotexit.depth.kernels.dispatch import ENV_VAR, resolve_backend
from cotexit.depth.kernels.reference import reference_exit_stats, unfused_exit_stats

DTYPES = [torch.float32, torch.bfloat16, torch.float16]
SHAPES = [(r, h, v) for r in (1, 3, 17) for h in (24, 40) for v in (1, 31, 1000, 4099)]
EPS = 1e-6


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("rows,hidden,vocab", SHAPES)
def test_reference_matches_dense_logits(make_inputs, dense_logits, rows, hidden, vocab, dtype):
    h, g, w = make_inputs(rows, hidden, vocab, dtype)
    want = unfused_exit_stats(h, g, w, eps=EPS, logits_dtype=torch.float32)
    for block_v in (7, 64, None):  # none of them divides 31, 1000 or 4099
        got = reference_exit_stats(h, g, w, eps=EPS, block_v=block_v)
        assert_stats_close(got, want, SAME_MATH_TOL[dtype])
        assert_valid_argmax(got, dense_logits(h, g, w, EPS), SAME_MATH_TOL[dtype][1])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("rows,hidden,vocab", [(3, 40, 1000), (17, 24, 4099)])
def test_reference_close_to_model_dtype_logits(make_inputs, rows, hidden, vocab, dtype):
    h, g, w = make_inputs(rows, hidden, vocab, dtype)
    got = reference_exit_stats(h, g, w, eps=EPS, block_v=100)
    want = unfused_exit_stats(h, g, w, eps=EPS)  # logits rounded to the head's dtype
    assert_stats_close(got, want, MODEL_DTYPE_TOL[dtype])
    torch.testing.assert_close(got.top1_prob, want.top1_prob, rtol=0, atol=5 * MODEL_DTYPE_TOL[dtype][1])


def test_reference_probabilities_match_softmax(make_inputs, dense_logits):
    h, g, w = make_inputs(4, 40, 257)
    s = reference_exit_stats(h, g, w, eps=EPS, block_v=50)
    top2 = torch.softmax(dense_logits(h, g, w, EPS), dim=-1).topk(2).values  # (R, 2)
    torch.testing.assert_close(s.top1_prob, top2[:, 0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(s.margin, top2[:, 0] - top2[:, 1], rtol=1e-5, atol=1e-6)
    assert len(s) == 4


def test_ties_give_first_index(tied_inputs, dense_logits):
    h, g, w, eps, expected = tied_inputs
    logits = dense_logits(h, g, w, eps)  # (R, V) exact integers
    for block_v in (1, 16, 64, 4096):
        s = reference_exit_stats(h, g, w, eps=eps, block_v=block_v)
        assert torch.equal(s.argmax, logits.argmax(dim=1))
        assert torch.equal(s.argmax, expected)
        assert torch.equal(s.second, s.max)  # the top is tied, so the runner-up equals it
        assert torch.all(s.margin == 0)


def test_single_token_vocabulary(make_inputs):
    h, g, w = make_inputs(3, 24, 1)
    s = reference_exit_stats(h, g, w, eps=EPS)
    assert torch.all(s.argmax == 0)
    assert torch.all(s.second == float("-inf"))
    torch.testing.assert_close(s.top1_prob, torch.ones(3))
    torch.testing.assert_close(s.margin, torch.ones(3))


def test_zero_rows(make_inputs):
    h, g, w = make_inputs(1, 24, 31)
    s = reference_exit_stats(h[:0], g, w, eps=EPS)
    assert s.max.shape == (0,) and s.argmax.shape == (0,)


def test_low_precision_hidden_and_strided_inputs(make_inputs):
    h, g, w = make_inputs(6, 40, 500)
    want = reference_exit_stats(h, g, w, eps=EPS)
    strided = h.T.contiguous().T  # (R, H) column-major copy of h
    assert_stats_close(reference_exit_stats(strided, g, w, eps=EPS), want, SAME_MATH_TOL[torch.float32])
    got = reference_exit_stats(h.to(torch.bfloat16), g.to(torch.bfloat16), w, eps=EPS)
    assert_stats_close(got, want, MODEL_DTYPE_TOL[torch.bfloat16])


@pytest.mark.parametrize(
    "change,error,match",
    [
        (dict(hidden=torch.randn(3, 24, 1)), ValueError, "hidden must be 2-D"),
        (dict(hidden=torch.randn(3, 25)), ValueError, r"does not match hidden shape \(3, 25\)"),
        (dict(norm_weight=torch.ones(23)), ValueError, r"norm_weight must have shape \(24,\)"),
        (dict(lm_head=torch.randn(31)), ValueError, "lm_head must be 2-D"),
        (dict(lm_head=torch.randn(0, 24)), ValueError, "empty vocabulary"),
        (dict(hidden=torch.randn(3, 0), norm_weight=torch.ones(0), lm_head=torch.randn(5, 0)), ValueError, "size 0"),
        (dict(hidden=torch.ones(3, 24, dtype=torch.int64)), ValueError, "hidden has dtype torch.int64"),
        (dict(lm_head=torch.ones(31, 24, dtype=torch.float64)), ValueError, "lm_head has dtype torch.float64"),
        (dict(hidden=[[1.0] * 24]), TypeError, "hidden must be a torch.Tensor"),
        (dict(eps=-1.0), ValueError, "eps must be"),
        (dict(eps=float("nan")), ValueError, "eps must be"),
        (dict(block_v=0), ValueError, "block_v must be a positive int"),
        (dict(block_v=2.5), ValueError, "block_v must be a positive int"),
    ],
)
def test_invalid_inputs_are_named(make_inputs, change, error, match):
    h, g, w = make_inputs(3, 24, 31)
    kwargs = dict(hidden=h, norm_weight=g, lm_head=w, eps=EPS, block_v=None) | change
    with pytest.raises(error, match=match):
        exit_stats(kwargs.pop("hidden"), kwargs.pop("norm_weight"), kwargs.pop("lm_head"), backend="torch", **kwargs)


def test_dispatch_picks_torch_on_cpu_and_honours_overrides(make_inputs, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    cpu = torch.device("cpu")
    assert resolve_backend(cpu) == "torch"
    assert resolve_backend(cpu, "auto") == "torch"
    monkeypatch.setenv(ENV_VAR, "torch")
    assert resolve_backend(cpu) == "torch"
    monkeypatch.setenv(ENV_VAR, "cuda-magic")
    with pytest.raises(ValueError, match=rf"'cuda-magic' \(from \${ENV_VAR}\); allowed: auto, torch, triton"):
        resolve_backend(cpu)
    with pytest.raises(ValueError, match="'tritn' .from backend argument"):
        resolve_backend(cpu, "tritn")
    h, g, w = make_inputs(2, 24, 31)
    s = exit_stats(h, g, w, eps=EPS, backend="torch")
    assert_stats_close(s, reference_exit_stats(h, g, w, eps=EPS), (0, 0))


def test_triton_backend_without_triton_is_a_clear_error(monkeypatch):
    from cotexit.depth.kernels import dispatch

    monkeypatch.setattr(dispatch, "triton_available", lambda: False)
    with pytest.raises(ValueError, match="needs the triton package"):
        resolve_backend(torch.device("cpu"), "triton")
