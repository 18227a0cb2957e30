"""On the shipped toy model (which writes real cues): every cue gets the states of its last token."""

from __future__ import annotations

import pytest
import torch

from cotexit.benchmarks.loading import load_problems
from cotexit.benchmarks.prompts import build_prompt
from cotexit.controller import CaptureConfig
from cotexit.engines.decoding import DecodeConfig
from cotexit.engines.loop import Decoder
from cotexit.models import chat_prompt, load_model
from cotexit.toy import TOY_MODEL_DIR

pytestmark = pytest.mark.skipif(not (TOY_MODEL_DIR / "model.safetensors").exists(), reason="toy weights not shipped")


@pytest.fixture(scope="module")
def toy():
    return load_model("toy", device="cpu")


def test_every_cue_has_the_teacher_forced_states_of_its_last_token(toy):
    problems = load_problems("arith", "test", limit=4)
    prompts = [chat_prompt(toy.tokenizer, build_prompt(p)) for p in problems]
    decoder = Decoder(toy.model, toy.tokenizer, toy.fmt, DecodeConfig(max_new_tokens=300), capture=CaptureConfig(layers=(3, -1)))
    results = decoder.generate(prompts)
    assert sum(len(r.cues) for r in results) >= 4, "the toy model should write cues"
    for prompt, result in zip(prompts, results):
        prompt_ids = decoder.encode(prompt)
        with torch.no_grad():
            out = toy.model(torch.tensor([prompt_ids + result.token_ids]), output_hidden_states=True)
        for cue in result.cues:
            assert cue.hidden is not None, f"cue {cue.phrase!r} at token {cue.token_end} has no states"
            position = len(prompt_ids) + cue.token_end
            torch.testing.assert_close(cue.hidden[3], out.hidden_states[3][0, position], atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(cue.hidden[8], out.hidden_states[8][0, position], atol=1e-4, rtol=1e-4)
