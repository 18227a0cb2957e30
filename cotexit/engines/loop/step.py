"""One forward step of the decode loop, as a replaceable function.

Owns `StepOutput`, `full_forward` (the default step), `select_rows` and
`last_position`. `full_forward` runs the whole layer stack over the new tokens and reads the
logits of the last position; when the loop asks for layers, the forward
hooks of a `cotexit.engines.tap.LayerTap` on just those modules keep
their states at the last position from the same pass (transformers'
`output_hidden_states` would record every layer, which costs a measurable
share of a small model's step). A layer-exit engine plugs in here with the
same signature and computes fewer layers per token; one that keeps state per
row also has `select_rows(cache, index)`, which the loop calls (through
`select_rows` here) whenever rows leave the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from cotexit.engines.tap import installed_tap, tapped
from cotexit.models.cachearg import cache_kwargs


@dataclass
class StepOutput:
    logits: torch.Tensor  # (B, V) at the last fed position
    hidden: dict[int, torch.Tensor] | None  # {layer: (B, H)} at the last fed position, the layers asked for


class StepForward(Protocol):
    def __call__(
        self,
        model: Any,
        input_ids: torch.Tensor,  # (B, T)
        attention_mask: torch.Tensor,  # (B, C) over every cache column, including the new ones
        position_ids: torch.Tensor,  # (B, T)
        cache: Any,
        layers: tuple[int, ...],  # resolved layer numbers to capture (see `cotexit.controller.capture`); () for none
    ) -> StepOutput: ...


@torch.inference_mode()
def full_forward(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor,
    cache: Any,
    layers: tuple[int, ...],
) -> StepOutput:
    tap = installed_tap(model, layers) if layers else None
    if layers and tap is None:  # a one-off call: install a tap for it alone
        with tapped(model, layers):
            return full_forward(model, input_ids, attention_mask, position_ids, cache, layers)
    hidden = tap.arm() if tap is not None else None
    try:
        out = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            logits_to_keep=1,
            **cache_kwargs(model, cache),  # `cache` or, before transformers 5.24, `past_key_values`
        )
    finally:
        if tap is not None:
            tap.disarm()
    return StepOutput(logits=out.logits[:, -1, :].float(), hidden=hidden)


def select_rows(step_forward: StepForward, cache: Any, index: torch.Tensor) -> None:
    """Keep rows `index` of `cache`, and of the step's own per-row state when it has some (`select_rows`)."""
    cache.batch_select_indices(index)
    hook = getattr(step_forward, "select_rows", None)
    if hook is not None:
        hook(cache, index)


def last_position(hidden_states: Sequence[torch.Tensor], layers: tuple[int, ...]) -> dict[int, torch.Tensor] | None:
    """{layer: (B, H)} at the last position from N+1 states (B, T, H); None when no layer is asked for."""
    return {layer: hidden_states[layer][:, -1, :] for layer in layers} if layers else None
