"""One forward step of the decode loop, as a replaceable function.

Owns `StepOutput` and `full_forward`, the default step: the whole layer stack
over the new tokens, reading the logits of the last position and, when
asked, every layer's hidden states from the same pass. A layer-exit engine
plugs in here with the same signature and computes fewer layers per token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch


@dataclass
class StepOutput:
    logits: torch.Tensor  # (B, V) at the last fed position
    hidden_states: tuple[torch.Tensor, ...] | None  # N+1 tensors (B, T, H): embeddings, then each layer


class StepForward(Protocol):
    def __call__(
        self,
        model: Any,
        input_ids: torch.Tensor,  # (B, T)
        attention_mask: torch.Tensor,  # (B, C) over every cache column, including the new ones
        position_ids: torch.Tensor,  # (B, T)
        cache: Any,
        want_hidden: bool,
    ) -> StepOutput: ...


@torch.inference_mode()
def full_forward(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor,
    cache: Any,
    want_hidden: bool,
) -> StepOutput:
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        past_key_values=cache,
        use_cache=True,
        output_hidden_states=want_hidden,
        logits_to_keep=1,
    )
    return StepOutput(logits=out.logits[:, -1, :].float(), hidden_states=out.hidden_states if want_hidden else None)
