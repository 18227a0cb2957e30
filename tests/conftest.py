"""Shared fixtures: a small byte-level BPE tokenizer, tiny random Llama / Qwen2 models, real chat-template shapes.

Nothing here downloads anything: the tokenizer is trained in memory on a few
reasoning-style sentences, the models are built from configs with fixed seeds.

The chat templates (`templated`, `tokenizer_folder`) are small hand-written
Jinja stand-ins of the shapes real reasoning models ship, not copies: what
matters is where each leaves the assistant's turn. Old DeepSeek-R1-Distill
releases end the prompt at the assistant marker (the model writes `<think>`
itself), newer ones end with `<think>\\n`; Qwen3 writes an empty think block
only when `enable_thinking` is false; QwQ always opens `<think>`.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
if not torch.cuda.is_available():
    # Before anything imports triton (transformers may), whichever test runs first: the kernel tests
    # then run the Triton kernels in Triton's CPU interpreter.
    os.environ.setdefault("TRITON_INTERPRET", "1")

CORPUS = [
    "<think>\nLet me compute 12 + 7 = 19. Wait, let me double-check: 12 + 7 = 19. Hmm, yes.\n</think>\n",
    "The final answer is \\boxed{19}. Alternatively, we could add 7 + 12. But wait, that is the same.",
    "Let me verify the numbers. Let me check again: 3 * 4 = 12, 12 - 5 = 7, so the answer is 7.",
    "Tom has 5 apples and buys 3 more. How many apples does he have? Please reason step by step.",
    "wait hmm alternatively so then therefore because the sum product difference of two numbers is",
]
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="session")
def tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS * 4, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _tiny(kind: str, vocab_size: int, eos_id: int):
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    common = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
    )
    torch.manual_seed(0)
    if kind == "llama":
        model = LlamaForCausalLM(LlamaConfig(**common))
    else:
        model = Qwen2ForCausalLM(Qwen2Config(**common))
    return model.eval()


@pytest.fixture(scope="session", params=["llama", "qwen2"])
def tiny_model(request, tokenizer):
    return _tiny(request.param, len(tokenizer), tokenizer.eos_token_id)


@pytest.fixture(scope="session")
def tiny_llama(tokenizer):
    return _tiny("llama", len(tokenizer), tokenizer.eos_token_id)


_TURNS = "{% for m in messages %}{% if m['role'] == 'user' %}<｜User｜>{{ m['content'] }}{% endif %}{% endfor %}"
_IM = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"

TEMPLATES = {
    "old-r1": _TURNS + "{% if add_generation_prompt %}<｜Assistant｜>{% endif %}",
    "new-r1": _TURNS + "{% if add_generation_prompt %}<｜Assistant｜><think>\n{% endif %}",
    "qwen3": _IM
    + "{% if add_generation_prompt %}<|im_start|>assistant\n"
    + "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}",
    "qwq": _IM + "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}",
    "no-think": _IM + "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n\n</think>\n\n{% endif %}",
    "broken": "{{ raise_exception('only tool calls are supported') }}",
}


@pytest.fixture
def templated(tokenizer) -> Callable[[str | None], object]:
    """A copy of the shared tokenizer with chat template `name` from TEMPLATES (None: no template)."""

    def make(name: str | None):
        tok = copy.deepcopy(tokenizer)
        tok.chat_template = TEMPLATES[name] if name else None
        return tok

    return make


@pytest.fixture
def tokenizer_folder(tmp_path: Path, templated) -> Callable[..., Path]:
    """A model folder with only tokenizer files and a small qwen2 config.json (28 layers, no weights)."""

    def make(template: str | None, *, name_or_path: str = "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"):
        folder = tmp_path / "model"
        templated(template).save_pretrained(folder)
        config = {
            "model_type": "qwen2",
            "_name_or_path": name_or_path,
            "num_hidden_layers": 28,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": 400,
        }
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
        return folder

    return make
