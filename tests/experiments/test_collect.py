"""`run_collect` on the shipped toy model: cue rows with features and labels, resume, and settings that must match."""

from __future__ import annotations

import pytest

from cotexit.benchmarks.extraction import last_boxed
from cotexit.benchmarks.grading import is_equivalent
from cotexit.benchmarks.loading import load_problems
from cotexit.depth.config import LayerExitConfig
from cotexit.engines.decoding import DecodeConfig
from cotexit.models import load_model
from cotexit.experiments.collect import CollectConfig, run_collect
from cotexit.probes.cuedata import load_cue_data


@pytest.fixture(scope="module")
def toy():
    return load_model("toy", device="cpu")


def collect(toy, out, **kw):
    config = CollectConfig(suite="arith", model="toy", split="calib", limit=3, layers=(4, 8), batch_size=2,
                           budgets=(16,), decode=DecodeConfig(max_new_tokens=200), **kw)
    return list(run_collect(toy, config, out))


def test_collects_every_cue_and_resumes(toy, tmp_path):
    events = collect(toy, tmp_path / "c")
    assert events[-1].done == events[-1].total == 3
    data = load_cue_data(tmp_path / "c")
    suite = {p.id: p for p in load_problems("arith", "calib", 3)}
    assert sorted(p["id"] for p in data.problems) == sorted(suite) and len(data.cues) >= 3
    assert data.features.shape == (len(data.cues), 2 * toy.model.config.hidden_size)
    for row in data.problems:  # the full run's label: its answer graded against the suite's own
        gold = suite[row["id"]].answer
        assert row["gold"] == gold and row["full_correct"] is is_equivalent(gold, row["prediction"])
        assert row["n_cues"] == sum(c["problem"] == row["id"] for c in data.cues)
    for cue in data.cues:  # each trial's label: the answer it wrote after the forced \boxed{, graded the same way
        assert cue["forced_answer"] == last_boxed("\\boxed{" + cue["forced_text"])
        assert cue["forced_correct"] is is_equivalent(suite[cue["problem"]].answer, cue["forced_answer"])
    assert {c["forced_correct"] for c in data.cues} == {True, False}  # (greedy: early trials on one problem are wrong)
    again = collect(toy, tmp_path / "c")  # nothing left to do
    assert again[0].done == 3 and len(load_cue_data(tmp_path / "c").problems) == 3


def test_layer_exit_is_recorded_and_must_match_on_resume(toy, tmp_path):
    depth = LayerExitConfig(every=1, thresholds=(0.99,))
    collect(toy, tmp_path / "d", layer_exit=depth)
    assert load_cue_data(tmp_path / "d").meta["layer_exit"]["thresholds"] == [0.99]
    with pytest.raises(ValueError, match="layer_exit"):
        collect(toy, tmp_path / "d")
    with pytest.raises(ValueError, match="propagate mode only"):
        CollectConfig(suite="arith", model="toy", layer_exit=LayerExitConfig(mode="exact", draft_layer=2))


def test_keep_cue_labels_cut_after_the_confirming_token_and_must_match_on_resume(toy, tmp_path):
    collect(toy, tmp_path / "k", exit_semantics="keep-cue")
    data = load_cue_data(tmp_path / "k")
    assert data.meta["exit_semantics"]["cut"] == "keep-cue" and data.cues
    assert all(c["token_end"] < c["cut"] <= c["token_end"] + 2 for c in data.cues)  # the cue and its confirming token
    collect(toy, tmp_path / "b")
    assert all(c["cut"] == c["token_start"] for c in load_cue_data(tmp_path / "b").cues)
    with pytest.raises(ValueError, match="exit_semantics"):
        collect(toy, tmp_path / "k")  # before-cue settings on keep-cue data
    with pytest.raises(ValueError, match="--exit-semantics must be one of"):
        CollectConfig(suite="arith", model="toy", exit_semantics="after-cue")
