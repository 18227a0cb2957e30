"""Depth calibration: the table from real decoding, and Learn-then-Test on token disagreement."""

from __future__ import annotations

import numpy as np
import pytest

from cotexit.depth.calibrate import DepthTable, calibrate_depth, depth_table, load_depth_artifact, save_depth_artifact
from cotexit.depth.config import LayerExitConfig
from cotexit.engines.decoding import DecodeConfig
from cotexit.models import chat_prompt
from cotexit.models.loading import LoadedModel
from cotexit.models.thinking import get_format


def test_table_from_decoding_has_one_row_per_fed_token(tiny_llama, tokenizer):
    lm = LoadedModel("tiny", "tiny", tiny_llama, tokenizer, get_format("plain"))
    prompts = [chat_prompt(tokenizer, q) for q in ("Tom has 5 apples.", "What is 3 * 4?", "12 + 7")]
    table = depth_table(lm, prompts, LayerExitConfig(every=1), DecodeConfig(max_new_tokens=6), batch_size=2)
    assert table.points == (1, 2, 3) and table.confidence.shape[1] == 3
    assert table.n_sequences == 3 and len(table.sequence) == table.confidence.shape[0]
    assert ((table.confidence >= 0) & (table.confidence <= 1)).all()


def synthetic(n_seq=400, tokens=30, seed=0):
    rng = np.random.default_rng(seed)
    conf = rng.uniform(size=(n_seq * tokens, 2))
    agree = rng.uniform(size=conf.shape) < conf  # more confident -> more often right
    return DepthTable((2, 4), 6, conf, agree, np.repeat(np.arange(n_seq), tokens))


def test_certified_threshold_keeps_disagreement_under_epsilon_on_fresh_data():
    cal = calibrate_depth(synthetic(seed=1), "softmax", epsilon_tok=0.1, delta=0.1)
    assert cal.threshold is not None
    _, wrong = synthetic(n_seq=4000, seed=2).exits(cal.threshold)
    assert wrong.mean() <= 0.1
    assert cal.mean_layers[cal.candidates.index(cal.threshold)] < 6


def test_too_few_sequences_and_never_exit(tmp_path):
    with pytest.raises(ValueError, match="at least"):
        calibrate_depth(synthetic(n_seq=5), "softmax", epsilon_tok=0.05, delta=0.1)
    table = synthetic(n_seq=200)
    table.confidence[:] = 0.5  # every token exits together, and every early exit is wrong: nothing certified
    table.agree[:] = False
    cal = calibrate_depth(table, "softmax", epsilon_tok=0.05, delta=0.1)
    assert cal.threshold is None
    folder = save_depth_artifact(cal, LayerExitConfig(points=(2, 4)), {"model": "x"}, tmp_path / "a", {})
    assert load_depth_artifact(folder)["never_exit"] is True
    with pytest.raises(ValueError):
        load_depth_artifact(tmp_path)
