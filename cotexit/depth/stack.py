"""Running a decoder's layer stack piece by piece: the building block of layer exit.

Owns `LayerStack`. For Llama-family models in transformers (Llama, Qwen2,
Qwen3, Mistral: `model.model.{embed_tokens, layers, norm, rotary_emb}` and
`model.lm_head`) it embeds tokens, builds the attention mask over every cache
column, runs any range of blocks against a `DynamicCache`, applies the final
norm and LM head to any layer's state, and fills a block's keys and values
from a given state without its MLP (CALM's state propagation). Which layers
to run is the engines' decision (`cotexit.depth.propagate`,
`cotexit.depth.speculative`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from cotexit.models.cachearg import cache_keyword


@dataclass
class StackInput:
    hidden: torch.Tensor  # (B, T, H)
    mask: torch.Tensor | None  # (B, 1, T, C) boolean (sdpa) or additive float (eager); None: one query, every column
    position_ids: torch.Tensor  # (B, T)
    position_embeddings: tuple[torch.Tensor, torch.Tensor]


class LayerStack:
    """A view of a causal LM as embed -> blocks 1..N -> norm -> head."""

    def __init__(self, model: Any) -> None:
        inner = getattr(model, "model", None)
        needed = ("embed_tokens", "layers", "norm", "rotary_emb")
        if inner is None or not all(hasattr(inner, a) for a in needed) or not hasattr(model, "lm_head"):
            raise TypeError(
                f"layer exit supports Llama-family decoders (model.model.layers, .norm, .rotary_emb, model.lm_head); "
                f"got {type(model).__name__}"
            )
        self.model = model
        self.inner = inner
        self.blocks = list(inner.layers[: model.config.num_hidden_layers])
        self.num_layers = len(self.blocks)
        self.hidden_size = int(model.config.hidden_size)
        self.eager = getattr(model.config, "_attn_implementation", "sdpa") == "eager"
        self.block_cache_kw = cache_keyword(self.blocks[0])  # `cache` or, before transformers 5.24, `past_key_values`
        self.attn_cache_kw = cache_keyword(self.blocks[0].self_attn)

    def begin(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor) -> StackInput:
        """Embed `input_ids` (B, T) whose columns are the last T of `attention_mask` (B, C)."""
        hidden = self.inner.embed_tokens(input_ids)  # (B, T, H)
        return self.prepare(hidden, attention_mask, position_ids)

    def prepare(self, hidden: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor) -> StackInput:
        """Mask and rotary embeddings for states `hidden` (B, T, H) at the last T columns of `attention_mask`."""
        batch, t = hidden.shape[:2]
        columns = attention_mask.shape[1]
        rope = self.inner.rotary_emb(hidden, position_ids=position_ids)
        if t == 1 and not self.eager and bool(attention_mask.all()):
            # one query that may see every column: no mask, so sdpa may take its fastest kernel (as the model does)
            return StackInput(hidden, None, position_ids, rope)
        query_cols = torch.arange(columns - t, columns, device=hidden.device)  # (T,)
        key_cols = torch.arange(columns, device=hidden.device)  # (C,)
        causal = key_cols[None, :] <= query_cols[:, None]  # (T, C)
        allowed = causal[None, None] & attention_mask.bool()[:, None, None, :]  # (B, 1, T, C)
        if self.eager:
            mask = torch.zeros(allowed.shape, dtype=hidden.dtype, device=hidden.device)
            mask = mask.masked_fill(~allowed, torch.finfo(hidden.dtype).min)
        else:
            mask = allowed
        return StackInput(hidden, mask, position_ids, rope)

    def run(self, x: StackInput, start: int, stop: int, cache: Any, collect: list | None = None) -> torch.Tensor:
        """Blocks start+1..stop (1-based layer numbers) on `x.hidden`; returns the state after `stop`."""
        hidden = x.hidden
        for index in range(start, stop):
            hidden = self.blocks[index](
                hidden,
                attention_mask=x.mask,
                position_embeddings=x.position_embeddings,
                position_ids=x.position_ids,
                use_cache=True,
                **{self.block_cache_kw: cache},
            )
            if collect is not None:
                collect.append(hidden)
        return hidden

    def propagate(self, x: StackInput, hidden: torch.Tensor, start: int, cache: Any) -> None:
        """Give blocks start+1..N keys and values computed from `hidden` (attention only, no MLP, output unused)."""
        for index in range(start, self.num_layers):
            block = self.blocks[index]
            block.self_attn(
                hidden_states=block.input_layernorm(hidden),
                attention_mask=x.mask,
                position_embeddings=x.position_embeddings,
                position_ids=x.position_ids,
                **{self.attn_cache_kw: cache},
            )

    def full(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor, cache: Any):
        """The whole stack over `input_ids`: (logits (B, V) at the last position, [embedding, block 1..N states])."""
        x = self.begin(input_ids, attention_mask, position_ids)
        states = [x.hidden]
        hidden = self.run(x, 0, self.num_layers, cache, states)
        return self.head(hidden[:, -1, :]).float(), states

    def hidden_states(self, states: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Embedding plus N block outputs as transformers reports them: the last one after the final norm."""
        assert len(states) == self.num_layers + 1, f"{len(states)} states for {self.num_layers} layers"
        return (*states[:-1], self.inner.norm(states[-1]))

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits (…, V) of a layer's state through the model's own final norm and LM head."""
        return self.model.lm_head(self.inner.norm(hidden))
