"""Where a decoder-only causal LM keeps its parts: the decoder stack, its blocks, the final norm, the LM head.

Owns `ExitHead` and `exit_head`, shared by whatever reads layers directly: the
hooks that capture hidden states while decoding (`cotexit.engines.tap`)
and the depth analysis (`cotexit.depth.analysis`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ExitHead:
    """What turns a layer's hidden state into its prediction: `lm_head(norm(h))`."""

    norm: Any
    lm_head: Any
    layers: Any
    base: Any

    @property
    def num_layers(self) -> int:
        return len(self.layers)


def exit_head(model: Any) -> ExitHead:
    """Find the decoder stack, final norm and LM head of a Llama/Qwen2-style causal LM."""
    base = model.get_decoder() if hasattr(model, "get_decoder") else getattr(model, "model", None)
    norm = getattr(base, "norm", None)
    layers = getattr(base, "layers", None)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if base is None or norm is None or layers is None or head is None:
        raise ValueError(
            f"{type(model).__name__} is not a decoder-only model with .model.layers, .model.norm and an LM head; "
            "cotexit reads the layers of Llama/Qwen2-style architectures"
        )
    return ExitHead(norm=norm, lm_head=head, layers=layers, base=base)
