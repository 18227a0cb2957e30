"""Cue states when one token both ends a cue and confirms it (" Wait," as a single token).

Byte-level BPE tokenizers never merge a word with the punctuation after it,
so a cue's states normally come in before the cue is confirmed; tokenizers
that do merge them (SentencePiece's "▁Wait,") confirm the cue before its
last token is fed, and its states must be taken from the next forward. A
word-level tokenizer and a scripted next token make both cases happen.
"""

from __future__ import annotations

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from cotexit.controller import CaptureConfig
from cotexit.controller.policies import ExitPolicy
from cotexit.engines.decoding import DecodeConfig
from cotexit.engines.loop import Decoder
from cotexit.engines.loop.step import full_forward
from cotexit.models.thinking import get_format

VOCAB = ["<eos>", "Q", "So", " x", " =", " 3", ".", " Wait,", " Hmm", "!", " y", " done"]
SCRIPT = ["So", " x", " =", " 3", ".", " Wait,", " y", ".", " Hmm", "!", " x", " done", ".", "<eos>"]


def word_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="<eos>"))
    words = "|".join(sorted((w.replace(".", r"\.").replace("!", r"\!") for w in VOCAB[1:]), key=len, reverse=True))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(words), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<eos>")


def scripted(ids: list[int]):
    """full_forward, with the logits replaced so that greedy decoding writes `ids`."""
    calls = {"n": 0}

    def step(model, input_ids, attention_mask, position_ids, cache, layers):
        out = full_forward(model, input_ids, attention_mask, position_ids, cache, layers)
        out.logits = torch.full_like(out.logits, -1e4)
        out.logits[:, ids[min(calls["n"], len(ids) - 1)]] = 0.0
        calls["n"] += 1
        return out

    return step


def test_cue_confirmed_by_its_own_token_gets_the_states_of_that_token():
    tokenizer = word_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(VOCAB), hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, eos_token_id=0, pad_token_id=0,
    )
    model = LlamaForCausalLM(config).eval()
    ids = [VOCAB.index(w) for w in SCRIPT]
    decoder = Decoder(
        model, tokenizer, get_format("plain"), DecodeConfig(max_new_tokens=20),
        capture=CaptureConfig(layers=(2, -1)), step_forward=scripted(ids),
    )
    result = decoder.generate(["Q"])[0]
    assert result.token_ids == ids
    assert [(c.phrase, c.token_end) for c in result.cues] == [("Wait", 5), ("Hmm", 8)]
    with torch.no_grad():
        out = model(torch.tensor([decoder.encode("Q") + ids]), output_hidden_states=True)
    for cue in result.cues:
        assert cue.hidden is not None, f"cue {cue.phrase!r} got no states"
        for layer in (2, 3):
            torch.testing.assert_close(cue.hidden[layer], out.hidden_states[layer][0, 1 + cue.token_end])


class Recorder(ExitPolicy):
    """A policy that needs states and never fires; it notes each cue it is shown."""

    name = "recorder"
    needs_hidden = True
    per_step = False

    def __init__(self):
        self.seen = []

    def __call__(self, row, cue):
        self.seen.append((cue.phrase, cue.hidden is not None))
        return False


def test_a_cue_confirmed_after_its_states_are_gone_does_not_hold_up_later_cues(tiny_llama, tokenizer):
    """ "…" is three byte tokens, so "Wait" is confirmed three tokens late, when its states are gone."""
    ids = tokenizer(" Wait\u2026\nHmm. ok", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert [tokenizer.decode(ids[:1]), tokenizer.decode(ids[:4])] == [" Wait", " Wait\u2026"]  # then 3 byte tokens
    recorder = Recorder()
    decoder = Decoder(
        tiny_llama, tokenizer, get_format("plain"), DecodeConfig(max_new_tokens=20),
        capture=CaptureConfig(layers=(2,)), policies=[recorder], step_forward=scripted(ids),
    )
    result = decoder.generate(["x."])[0]
    assert result.token_ids == ids
    assert [c.phrase for c in result.cues] == ["Wait", "Hmm"]
    assert recorder.seen == [("Wait", False), ("Hmm", True)]
