"""Exact mode's defaults (the configuration eval/speculative measured best) and the configs recorded before them."""

from __future__ import annotations

import json

import pytest

from cotexit.cli.exits import layer_exit_config
from cotexit.cli.main import build_parser
from cotexit.depth.config import EXACT_DEFAULTS, LayerExitConfig
from cotexit.depth.speculative import SpeculativeForward, engine_factory
from cotexit.engines.decoding import DecodeConfig
from cotexit.engines.loop import Decoder
from cotexit.models import chat_prompt, get_format

# layer_exit entries of committed run.json files and artifact cards, written before the exact-mode defaults changed
# (eval/toy-arith/exact-greedy, eval/smollm2/exact-gsm8k, eval/toy-arith/propagate-greedy,
# calibration/toy-arith/depth-answer-grid-search), and what `bench --layer-exit exact` recorded with no depth option
RECORDED = [
    {"draft_layer": 3, "every": None, "max_draft": 6, "measure": "softmax", "mode": "exact", "points": [], "thresholds": [0.9]},
    {"draft_layer": 24, "every": None, "max_draft": 3, "measure": "softmax", "mode": "exact", "points": [], "thresholds": [0.9]},
    {"draft_layer": None, "every": None, "max_draft": 4, "measure": "softmax", "mode": "propagate",
     "points": [1, 2, 3, 4, 5, 6, 7], "thresholds": [0.7]},
    {"draft_layer": None, "every": None, "max_draft": 4, "measure": "softmax", "mode": "propagate",
     "points": [1, 2, 3, 4, 5, 6, 7], "thresholds": [0.999999]},
    {"draft_layer": None, "every": 2, "max_draft": 4, "measure": "softmax", "mode": "exact", "points": [], "thresholds": [0.9]},
    {"draft_layer": None, "draft_layers": [1, 3], "drafter": "auto", "ngram": 2, "adaptive": False, "every": None,
     "max_draft": 10, "measure": "softmax", "mode": "exact", "points": [], "thresholds": [0.9]},
]


def as_json(data):
    return json.loads(json.dumps(data))  # tuples and lists alike


def cli_config(*options: str) -> LayerExitConfig | None:
    return layer_exit_config(build_parser().parse_args(["bench", "--suite", "arith", *options]))


@pytest.mark.parametrize("num_layers, layers", [(8, (1, 2, 4)), (30, (3, 7, 15)), (4, (1, 2)), (2, (1,))])
def test_exact_mode_defaults_to_draft_layers_at_fractions_of_the_depth(num_layers, layers):
    config = LayerExitConfig(mode="exact")
    assert config.draft_fractions == EXACT_DEFAULTS["draft_fractions"]
    assert config.draft(num_layers) == layers
    assert config.exit_points(num_layers) == layers
    assert (config.drafter, config.max_draft, config.adaptive) == (EXACT_DEFAULTS["drafter"], EXACT_DEFAULTS["max_draft"], True)


@pytest.mark.parametrize(
    "given, layers",
    [(dict(draft_layer=5), (5,)), (dict(draft_layers=(9, 2)), (2, 9)), (dict(every=4), (4,)), (dict(points=(6, 12)), (6,))],
)
def test_an_explicit_draft_layer_or_exit_point_wins_over_the_fractions(given, layers):
    config = LayerExitConfig(mode="exact", **given)
    assert config.draft_fractions == ()
    assert config.draft(30) == layers
    assert config.drafter == EXACT_DEFAULTS["drafter"] and config.max_draft == EXACT_DEFAULTS["max_draft"]


def test_other_fractions_resolve_against_the_model_they_run_on():
    config = LayerExitConfig(mode="exact", draft_fractions=(0.3, 0.6))
    assert config.draft(10) == (3, 6) and config.draft(30) == (9, 18)
    assert LayerExitConfig.from_json(config.to_json()) == config


def test_propagate_mode_keeps_what_it_always_recorded():
    """Propagate mode does not draft: its JSON has no drafter, and max_draft 4, as before (certified artifacts compare it)."""
    config = LayerExitConfig(mode="propagate", points=(1, 2, 3, 4, 5, 6, 7), thresholds=(0.7,))
    assert as_json(config.to_json()) == RECORDED[2]
    with pytest.raises(ValueError, match="not both and not neither"):
        LayerExitConfig(mode="propagate")


@pytest.mark.parametrize("recorded", RECORDED)
def test_recorded_configs_load_and_mean_what_they_meant(recorded):
    config = LayerExitConfig.from_json(recorded)
    assert as_json(config.to_json()) == recorded
    assert config.draft_fractions == ()
    assert config.drafter == recorded.get("drafter", "layer")
    assert config.max_draft == recorded["max_draft"]
    if recorded["mode"] == "exact":
        expected = recorded.get("draft_layers") or [recorded["draft_layer"] or recorded["every"]]
        assert list(config.draft(30)) == expected


def test_the_old_cli_default_reads_as_the_layer_drafter_at_layer_2():
    config = LayerExitConfig.from_json(RECORDED[4])
    assert (config.draft(8), config.drafter, config.max_draft) == ((2,), "layer", 4)
    assert config.to_json() != LayerExitConfig(mode="exact").to_json()  # a resumed old run is refused, not mixed


def test_an_unknown_key_is_named():
    with pytest.raises(ValueError, match="speed"):
        LayerExitConfig.from_json({**RECORDED[0], "speed": 2})


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(mode="exact", draft_fractions=(0.0,)), "in \\(0, 1\\)"),
        (dict(mode="exact", draft_fractions=(1.0,)), "in \\(0, 1\\)"),
        (dict(mode="exact", draft_fractions=(0.5,), draft_layer=2), "not both"),
        (dict(mode="propagate", draft_fractions=(0.5,), every=2), "for exact mode"),
    ],
)
def test_bad_fractions_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        LayerExitConfig(**bad)


def test_bench_layer_exit_exact_with_no_other_option_is_the_python_default():
    assert cli_config("--layer-exit", "exact") == LayerExitConfig(mode="exact")


def test_cli_options_still_win():
    assert cli_config("--layer-exit", "exact", "--draft-layer", "3").draft(30) == (3,)
    assert cli_config("--layer-exit", "exact", "--draft-layer", "3,9").draft(30) == (3, 9)
    old = cli_config("--layer-exit", "exact", "--exit-every", "2", "--max-draft", "4", "--drafter", "layer")
    assert as_json(old.to_json()) == RECORDED[4]  # the old default, spelt out, records what it recorded
    propagate = cli_config("--layer-exit", "propagate", "--exit-layers", "1,2,3,4,5,6,7", "--exit-threshold", "0.7")
    assert as_json(propagate.to_json()) == RECORDED[2]


def test_speculative_forward_without_a_config_runs_the_defaults_and_stays_exact(tiny_llama, tokenizer):
    engine = SpeculativeForward(tiny_llama)  # 4 layers: N/8 -> 1, N/4 -> 1, N/2 -> 2
    assert engine.draft_layers == (1, 2)
    assert engine.policy.arms == ("plain", "context", "layer:1", "layer:2")
    prompts = [chat_prompt(tokenizer, "Tom has 5 apples and buys 3 more. 12 34 12 34 12 34")]

    def decode(**kw):
        decoder = Decoder(tiny_llama, tokenizer, get_format("plain"), DecodeConfig(max_new_tokens=24), **kw)
        return decoder.generate(prompts)[0].token_ids

    assert decode(step_forward=engine) == decode()


def test_engines_of_one_factory_share_their_draft_policy(tiny_llama, tokenizer):
    """`bench` makes an engine per batch: the second batch starts from what the first measured."""
    make = engine_factory(tiny_llama)
    first = make()
    prompts = [chat_prompt(tokenizer, "What is 3 * 4 minus 5? 7 7 7 7 and 7 7")]
    Decoder(tiny_llama, tokenizer, get_format("plain"), DecodeConfig(max_new_tokens=24), step_forward=first).generate(prompts)
    cycles = first.policy.cycles
    second = make()
    assert second is not first and second.policy is first.policy and second.policy.cycles == cycles > 0
    assert second.stats.tokens == 0  # the counts are the batch's own
