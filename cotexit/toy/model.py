"""Architecture of the embedded toy reasoning model.

Owns `ToyModelConfig` (a frozen, validated description of the network) and
`build_model`, which turns it into a standard `transformers` Llama model, so
everything downstream loads it with `AutoModelForCausalLM` like any user
model. Knows nothing about data or training.

>>> cfg = ToyModelConfig(hidden_size=64, num_layers=8, num_heads=4, intermediate_size=128)
>>> build_model(cfg, vocab_size=50, pad_id=0, bos_id=1, eos_id=2).config.num_hidden_layers
8
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

THINKING_FORMAT_KEY = "cotexit_thinking_format"


@dataclass(frozen=True)
class ToyModelConfig:
    """Size of the toy Llama: at least 8 layers; heads must divide the hidden size."""

    hidden_size: int = 192
    num_layers: int = 8
    num_heads: int = 4
    intermediate_size: int = 512
    max_positions: int = 768
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        if self.num_layers < 8:
            raise ValueError(f"ToyModelConfig.num_layers must be >= 8, got {self.num_layers!r}")
        for name in ("hidden_size", "num_heads", "intermediate_size", "max_positions"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ToyModelConfig.{name} must be positive, got {getattr(self, name)!r}")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"ToyModelConfig.num_heads={self.num_heads} must divide hidden_size={self.hidden_size}"
            )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ToyModelConfig:
        return cls(**data)


def build_model(cfg: ToyModelConfig, *, vocab_size: int, pad_id: int, bos_id: int, eos_id: int):
    """A randomly initialised `LlamaForCausalLM` of this size with tied embeddings."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        max_position_embeddings=cfg.max_positions,
        rope_theta=cfg.rope_theta,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        pad_token_id=pad_id,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
    )
    setattr(config, THINKING_FORMAT_KEY, "toy")
    return LlamaForCausalLM(config)
