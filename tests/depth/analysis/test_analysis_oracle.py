"""Oracle earliest exit, savings and histogram, and the suitability score."""

from __future__ import annotations

import math

import pytest
import torch

from cotexit.depth.analysis.oracle import oracle_from_top1, oracle_layers, summarize_oracle
from cotexit.depth.analysis.suitability import FORMULA, exit_similarity, suitability


def test_oracle_layer_of_hand_made_top1_table():
    a, b = 7, 9
    top1 = torch.tensor([[a, a, b], [b, a, b], [a, a, a], [a, a, a]])  # (N=4, T=3), final row a
    assert oracle_from_top1(top1, torch.tensor([a, a, a])).tolist() == [3, 1, 3]


def test_oracle_layers_edge_cases():
    assert oracle_layers(torch.ones(5, 2, dtype=torch.bool)).tolist() == [1, 1]
    only_last = torch.zeros(5, 1, dtype=torch.bool)
    only_last[-1] = True
    assert oracle_layers(only_last).tolist() == [5]
    with pytest.raises(ValueError, match="last row"):
        oracle_layers(torch.zeros(3, 1, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool"):
        oracle_layers(torch.ones(3, 1))


def test_summary_savings_and_histogram():
    s = summarize_oracle(torch.tensor([1, 4, 4, 3]), 4)
    assert s.mean_layer == 3.0
    assert s.depth_savings == pytest.approx(0.25)
    assert s.histogram == [1, 0, 1, 2]
    assert s.median_layer == 3.0
    with pytest.raises(ValueError, match="1..4"):
        summarize_oracle(torch.tensor([5]), 4)


def test_suitability_equals_savings_when_exit_distributions_match():
    layers = torch.tensor([1, 2, 4])
    s = suitability(layers, torch.zeros(4, 3), num_layers=4)
    assert s.score == pytest.approx(s.oracle_depth_savings)
    assert s.oracle_depth_savings == pytest.approx(1 - (7 / 3) / 4)
    assert s.mean_exit_similarity == 1.0
    assert s.formula == FORMULA


def test_suitability_discounts_by_kl_at_the_exit_layer():
    kl = torch.tensor([[5.0, 9.0], [math.log(2), 9.0], [0.0, 0.0]])  # (N=3, T=2)
    layers = torch.tensor([2, 3])
    assert exit_similarity(layers, kl).tolist() == pytest.approx([0.5, 1.0])
    s = suitability(layers, kl, num_layers=3)
    assert s.score == pytest.approx(((1 - 2 / 3) * 0.5 + 0.0) / 2)
    with pytest.raises(ValueError, match="num_layers"):
        suitability(layers, kl, num_layers=4)
