"""Batching token-id prompts for a model: `left_pad`, the one padding rule of every engine."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def left_pad(prompt_ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), each (B, T): prompts right-aligned, pads on the left with mask 0.

    >>> left_pad([[5, 6], [7]], pad_id=0)[0].tolist()
    [[5, 6], [0, 7]]
    """
    width = max(len(p) for p in prompt_ids)
    ids = torch.full((len(prompt_ids), width), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(prompt_ids), width), dtype=torch.long)  # (B, T)
    for i, p in enumerate(prompt_ids):
        ids[i, width - len(p) :] = torch.tensor(list(p), dtype=torch.long)
        mask[i, width - len(p) :] = 1
    return ids, mask
