"""Which token ids end a sequence, for every engine.

Owns `eos_ids` (every end-of-sequence id the generation config, the model
config or the tokenizer names) and `stop_id` (the one an engine makes a
stopped row write: the first that the model's own `generate()` stops on).
"""

from __future__ import annotations

from typing import Any


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """Every end-of-sequence id the generation config, the model config or the tokenizer names."""
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config, tokenizer):
        value = getattr(source, "eos_token_id", None) if source is not None else None
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    if not ids:
        raise ValueError("the model and tokenizer define no eos_token_id; set one on the tokenizer")
    return ids


def stop_id(model: Any, ids: set[int]) -> int:
    """The EOS a stopped row is made to write: one `generate()` itself stops on (its generation config's first)."""
    config = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    first = config[0] if isinstance(config, (list, tuple)) and config else config
    return int(first) if isinstance(first, int) else min(ids)
