"""The propagate engine reading a fixed text: its next-token prediction at every position against the text.

Owns `forced_disagreement`. The engine is fed the tokens of a reference text
(the full model's own greedy output) one position at a time, with its own
cache: keys and values of exited tokens come from propagation, exactly as
when it generates. At each position its prediction is compared with the
reference's next token, which is what the full model predicts there. This is
token disagreement "on a calibration text": it sees every error the
propagated cache causes, but not the cascade of free generation, where one
different token shifts every later position of a position-by-position
comparison (`bench` reports that one too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from cotexit.depth.propagate import PropagateForward
from cotexit.engines.batching import left_pad


@dataclass(frozen=True)
class ForcedDisagreement:
    differing: list[int]  # per text: positions where the engine's top-1 differs from the text's next token
    compared: list[int]  # per text: positions compared (its generated tokens)
    layer_sum: list[int]  # per text: sum of the layer each compared position exited at

    def rates(self) -> list[float]:
        return [d / c if c else 0.0 for d, c in zip(self.differing, self.compared)]


@torch.inference_mode()
def forced_disagreement(
    model,
    engine: PropagateForward,
    prompts: Sequence[Sequence[int]],
    references: Sequence[Sequence[int]],
    pad_id: int,
) -> ForcedDisagreement:
    """Feed each prompt then its reference tokens through `engine`, batched; compare predictions with the references.

    Rows are independent of their batch-mates (the engine freezes exited rows), so any batching gives the same counts.
    """
    if len(prompts) != len(references) or not prompts:
        raise ValueError("give one reference per prompt, and at least one prompt")
    device = next(model.parameters()).device
    batch = len(prompts)
    ids, mask = left_pad(prompts, pad_id)
    mask = mask.to(device)
    cache = DynamicCache(config=model.config)
    out = engine(model, ids.to(device), mask, (mask.cumsum(-1) - 1).clamp(min=0), cache, ())
    next_pos = torch.tensor([len(p) for p in prompts], device=device)  # (B,)
    differing, compared, layer_sum = [0] * batch, [0] * batch, [0] * batch
    exit_layers = torch.full((batch,), engine.stack.num_layers)  # the prompt runs the whole stack
    longest = max(len(r) for r in references)
    for i in range(longest):
        predicted = out.logits.argmax(-1).tolist()  # (B,) the prediction for position i
        for b, ref in enumerate(references):
            if i < len(ref):
                differing[b] += int(predicted[b] != ref[i])
                compared[b] += 1
                if i > 0:
                    layer_sum[b] += int(exit_layers[b])
        if i == longest - 1:
            break
        live = [i < len(r) for r in references]
        feed = torch.tensor([[r[i] if i < len(r) else pad_id] for r in references], device=device)  # (B, 1)
        column = torch.tensor([[int(v)] for v in live], dtype=mask.dtype, device=device)  # (B, 1)
        mask = torch.cat([mask, column], dim=1)
        out = engine(model, feed, mask, next_pos.unsqueeze(1), cache, ())
        exit_layers = engine.last_exit_layers.cpu()
        next_pos = next_pos + 1
    # The first prediction comes from the prompt pass (whole stack); count it at full depth.
    for b, ref in enumerate(references):
        if ref:
            layer_sum[b] += engine.stack.num_layers
    return ForcedDisagreement(differing, compared, layer_sum)
