"""FLOP estimates from a model's shapes: one block, the LM head, one token through the whole stack.

Owns `block_flops`, `head_flops` and `full_token_flops`: functions of a
transformers config and a context length, so compute saved counts depth
exits and, with fewer tokens, length exits together. What the layer-exit
engines counted is `cotexit.depth.stats`'; adding the two up is the caller's.

>>> from types import SimpleNamespace
>>> config = SimpleNamespace(hidden_size=8, num_attention_heads=2, intermediate_size=16, vocab_size=10, num_hidden_layers=2)
>>> head_flops(config), full_token_flops(config, context=4)
(160.0, 2976.0)
"""

from __future__ import annotations

from typing import Any

__all__ = ["block_flops", "full_token_flops", "head_flops"]


def block_flops(config: Any, context: int) -> tuple[float, float]:
    """(attention-part, MLP-part) FLOPs of one block for one token attending to `context` positions."""
    h = int(config.hidden_size)
    heads = int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", heads) or heads)
    head_dim = int(getattr(config, "head_dim", None) or h // heads)
    inter = int(config.intermediate_size)
    projections = 2 * h * head_dim * (2 * heads + 2 * kv_heads)  # q, o and k, v
    attention = 2 * 2 * heads * head_dim * context  # scores and weighted sum
    mlp = 2 * 3 * h * inter  # gate, up, down
    return float(projections + attention), float(mlp)


def head_flops(config: Any) -> float:
    return 2.0 * int(config.hidden_size) * int(config.vocab_size)


def full_token_flops(config: Any, context: int) -> float:
    attn, mlp = block_flops(config, context)
    return int(config.num_hidden_layers) * (attn + mlp) + head_flops(config)
