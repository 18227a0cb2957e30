"""Counting what the layer-exit engines computed.

Owns `DepthStats`. Engines add to it per decoded token: the layer each token's
prediction came from, full blocks run, blocks whose keys and values were
filled by propagation (attention only), and LM-head evaluations. Turning the
counts into FLOPs is `cotexit.models.flops`' (shapes) and the runner's (sums).

>>> stats = DepthStats(num_layers=8, tokens=2, exit_layer_sum=12)
>>> stats.mean_layers_per_token, stats.depth_saved_pct
(6.0, 25.0)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["DepthStats"]


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
