"""The cache keyword: read from each forward's signature, and no FutureWarning from the engines that pass it."""

from __future__ import annotations

import warnings

import pytest

from cotexit.depth.config import LayerExitConfig
from cotexit.depth.propagate import PropagateForward
from cotexit.depth.speculative import SpeculativeForward
from cotexit.engines.decoding import DecodeConfig
from cotexit.engines.loop import Decoder
from cotexit.models import chat_prompt, get_format
from cotexit.models.cachearg import cache_keyword, cache_kwargs

QUESTION = "Tom has 5 apples and buys 3 more."


class OldLayer:
    """A forward as transformers before 5.24 wrote it: the cache only as `past_key_values`."""

    def forward(self, hidden_states, attention_mask=None, past_key_values=None, use_cache=False, **kwargs):
        return hidden_states


def test_keyword_follows_the_signature(tiny_model):
    import transformers
    from packaging.version import Version

    expected = "cache" if Version(transformers.__version__) >= Version("5.24") else "past_key_values"
    assert cache_keyword(tiny_model) == expected
    assert cache_keyword(tiny_model.model.layers[0]) == expected
    assert cache_keyword(tiny_model.model.layers[0].self_attn) == expected
    assert cache_keyword(OldLayer()) == "past_key_values"
    assert cache_kwargs(OldLayer(), "c") == {"past_key_values": "c"}


@pytest.mark.parametrize(
    "engine",
    [
        None,
        lambda model: SpeculativeForward(model, LayerExitConfig(mode="exact", draft_layer=2, max_draft=3)),
        lambda model: PropagateForward(model, LayerExitConfig(points=(2,), thresholds=(0.0,))),  # always propagates
    ],
    ids=["full", "exact", "propagate"],
)
def test_engines_raise_no_future_warning(tiny_model, tokenizer, engine):
    options = {"step_forward": engine(tiny_model)} if engine is not None else {}
    decoder = Decoder(tiny_model, tokenizer, get_format("plain"), DecodeConfig(max_new_tokens=6), **options)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        result = decoder.generate([chat_prompt(tokenizer, QUESTION)])[0]
    assert result.token_ids
