"""Per-layer statistics on hand-made tensors with known answers."""

from __future__ import annotations

import math

import pytest
import torch

from cotexit.depth.analysis.metrics import LayerTokenStats, kl_divergence, layer_means, layer_token_stats, topk_overlap


def _head(weight: torch.Tensor):
    return lambda h: h @ weight.T  # (R, H) -> (R, V)


def test_identical_layers_agree_fully():
    torch.manual_seed(0)
    states = torch.randn(1, 7, 6).expand(4, 7, 6).contiguous()  # (N, T, H)
    stats = layer_token_stats(states, torch.nn.Identity(), _head(torch.randn(30, 6)), top_k=5, chunk_size=3)
    assert stats.agree.shape == (4, 7) and bool(stats.agree.all())
    assert torch.allclose(stats.cosine, torch.ones(4, 7), atol=1e-6)
    assert float(stats.kl.abs().max()) < 1e-6
    assert torch.equal(stats.overlap, torch.ones(4, 7))


def test_known_disagreement_kl_and_overlap():
    # vocabulary of 3, identity head: the hidden state is the logit vector
    final = torch.tensor([[2.0, 0.0, 0.0]])  # top-1 0
    early = torch.tensor([[0.0, 2.0, 0.0]])  # top-1 1
    states = torch.stack([early, final])  # (2, 1, 3)
    stats = layer_token_stats(states, torch.nn.Identity(), torch.nn.Identity(), top_k=1)
    assert stats.agree.tolist() == [[False], [True]]
    assert stats.top1.tolist() == [[1], [0]]
    p = torch.softmax(final[0], 0)
    q = torch.softmax(early[0], 0)
    expected_kl = float((p * (p.log() - q.log())).sum())
    assert stats.kl[0, 0].item() == pytest.approx(expected_kl, rel=1e-5)
    assert stats.kl[1, 0].item() == 0.0
    assert stats.overlap.tolist() == [[0.0], [1.0]]
    assert stats.cosine[0, 0].item() == pytest.approx(0.0, abs=1e-6)


def test_chunking_does_not_change_results():
    torch.manual_seed(1)
    states = torch.randn(5, 11, 8)
    weight = torch.randn(40, 8)
    norm = torch.nn.LayerNorm(8)
    a = layer_token_stats(states, norm, _head(weight), top_k=4, chunk_size=2)
    b = layer_token_stats(states, norm, _head(weight), top_k=4, chunk_size=64)
    for name in ("agree", "top1", "overlap"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert torch.allclose(a.kl, b.kl, atol=1e-6) and torch.allclose(a.cosine, b.cosine, atol=1e-6)
    assert bool(a.agree[-1].all())


def test_topk_overlap_and_kl_helpers():
    assert topk_overlap(torch.tensor([[1, 2, 3, 4]]), torch.tensor([[4, 9, 1, 8]])).tolist() == [0.5]
    logp = torch.log(torch.tensor([[0.5, 0.5, 0.0]]))
    assert kl_divergence(logp, torch.log(torch.tensor([[0.25, 0.25, 0.5]]))).item() == pytest.approx(math.log(2))


def test_layer_means_and_concat():
    a = LayerTokenStats(
        agree=torch.tensor([[True, False], [True, True]]),
        cosine=torch.tensor([[0.5, 0.7], [1.0, 1.0]]),
        kl=torch.tensor([[1.0, 3.0], [0.0, 0.0]]),
        overlap=torch.tensor([[0.2, 0.4], [1.0, 1.0]]),
        top1=torch.tensor([[3, 4], [3, 5]]),
    )
    b = a.select(torch.tensor([True, False]))
    both = LayerTokenStats.concat([a, b])
    assert both.num_tokens == 3
    means = layer_means(both)
    assert means["top1_agreement"] == pytest.approx([2 / 3, 1.0])
    assert means["kl_final_to_layer"] == pytest.approx([5 / 3, 0.0])
    assert len(means["topk_overlap"]) == 2


@pytest.mark.parametrize("kwargs", [{"top_k": 0}, {"chunk_size": 0}, {"top_k": True}])
def test_bad_arguments_name_the_value(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        layer_token_stats(torch.zeros(2, 3, 4), torch.nn.Identity(), torch.nn.Identity(), **kwargs)


def test_bad_shape():
    with pytest.raises(ValueError, match="layers, tokens, hidden"):
        layer_token_stats(torch.zeros(3, 4), torch.nn.Identity(), torch.nn.Identity())


def test_kl_matches_the_direct_formula_and_survives_masked_logits():
    torch.manual_seed(2)
    states = torch.randn(3, 9, 6)
    weight = torch.randn(25, 6)
    stats = layer_token_stats(states, torch.nn.Identity(), _head(weight), top_k=3, chunk_size=4)
    logp = torch.log_softmax(states @ weight.T, -1)  # (N, T, V)
    for layer in range(3):
        assert torch.allclose(stats.kl[layer], kl_divergence(logp[-1], logp[layer]), atol=1e-5)

    def masked(h):
        logits = h @ weight.T
        logits[:, :5] = float("-inf")
        return logits

    stats = layer_token_stats(states, torch.nn.Identity(), masked, top_k=3)
    assert not bool(stats.kl.isnan().any()) and float(stats.kl[-1].abs().max()) == 0.0
