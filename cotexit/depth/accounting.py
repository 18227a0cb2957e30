"""Counting what the layer-exit engines computed, and what that costs in FLOPs.

Owns `DepthStats`. Engines add to it per decoded token: the layer each token's
prediction came from, full blocks run, blocks whose keys and values were
filled by propagation (attention only), and LM-head evaluations.
`flops_per_token` turns a model's shapes and a context length into FLOP
estimates, so compute saved counts depth exits and, with fewer tokens,
length exits together.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class DepthStats:
    num_layers: int
    tokens: int = 0  # generated tokens decided by the engine
    exit_layer_sum: int = 0  # propagate: sum of the layer each token exited at; exact: blocks evaluated
    blocks_run: int = 0  # full blocks executed, summed over rows
    blocks_propagated: int = 0  # blocks given keys/values from an exited state (attention only)
    head_evals: int = 0  # final norm + LM head evaluations (exit checks and predictions)
    drafted: int = 0  # exact mode: tokens drafted
    accepted: int = 0  # exact mode: drafted tokens the full stack agreed with
    drafted_context: int = 0  # exact mode: of `drafted`, the tokens drafted from the context (prompt lookup)
    accepted_context: int = 0  # exact mode: of `accepted`, those drafted from the context

    @property
    def mean_layers_per_token(self) -> float:
        return self.exit_layer_sum / self.tokens if self.tokens else float(self.num_layers)

    @property
    def depth_saved_pct(self) -> float:
        return 100.0 * (1.0 - self.mean_layers_per_token / self.num_layers)

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.drafted if self.drafted else None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            mean_layers_per_token=self.mean_layers_per_token,
            depth_saved_pct=self.depth_saved_pct,
            acceptance_rate=self.acceptance_rate,
        )
        return out


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
