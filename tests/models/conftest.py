"""Chat templates of the shapes real reasoning models ship, and tokenizer-only model folders built from them.

The templates are small hand-written Jinja stand-ins, not copies: what matters
is where each leaves the assistant's turn. Old DeepSeek-R1-Distill releases end
the prompt at the assistant marker (the model writes `<think>` itself), newer
ones end with `<think>\\n`; Qwen3 writes an empty think block only when
`enable_thinking` is false; QwQ always opens `<think>`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest

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
