"""Forced answers: what would the model answer if thinking were closed right here?

Owns `forced_answers` (the types and their stop rule are the controller's:
`cotexit.controller.trials`). Each request names
a running row of a `DecodeSession` and a prefix length in its generated
tokens (where an exit at a cue would cut, or any step; tokens of the prefix
not yet fed are fed with the forced text). The trials branch the session's cache:
they read the rows' keys and values up to the newest column (a row-select,
never a deep copy of the whole cache object), mask every column past each
prefix, append the thinking format's forced-exit text to all trials in one
forward, then decode greedily until the answer's brace closes, EOS, or
`max_tokens`. The session's own cache, mask and positions are never written,
so the main run continues exactly as if no trial had happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from transformers import DynamicCache

from cotexit.controller.detokenize import IncrementalDetokenizer
from cotexit.controller.trials import TRIAL_TOKENS, ForcedAnswer, ForcedRequest
from cotexit.engines.loop.step import select_rows

if TYPE_CHECKING:
    from cotexit.engines.loop.decode import DecodeSession

@torch.inference_mode()
def forced_answers(
    session: DecodeSession, requests: Sequence[ForcedRequest], *, max_tokens: int = TRIAL_TOKENS
) -> list[ForcedAnswer]:
    """Run all `requests` as one batch of trials; answers come back in request order."""
    if not requests:
        return []
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    decoder = session.d
    slots = []
    for req in requests:
        if req.row not in session.batch:
            raise ValueError(f"row {req.row} is not running in this session (finished rows have no cache)")
        row = session.rows[req.row]
        if not 0 <= req.prefix <= len(row.tokens):
            raise ValueError(f"prefix {req.prefix} of row {req.row} must be in [0, {len(row.tokens)}] (tokens generated)")
        slots.append(session.batch.index(req.row))

    index = torch.tensor(slots, device=session.device)
    columns = session.mask.shape[1]
    mask = session.mask[index].clone()  # (K, C)
    # Each trial feeds its prefix's tokens not yet in the cache (a keep-cue cut keeps the token just appended)
    # and then the forced-exit text, left-padded to one width with masked columns.
    feeds, starts = [], []
    for k, req in enumerate(requests):
        row = session.rows[req.row]
        for col in row.cols[req.prefix :]:
            mask[k, col] = 0
        kept = min(req.prefix, row.fed)
        feeds.append(row.tokens[kept : req.prefix] + decoder.forced_exit_ids)
        starts.append(len(row.prompt_ids) + kept)
    width = max(len(f) for f in feeds)
    pad = [width - len(f) for f in feeds]
    forced = torch.tensor([[f[0]] * p + f for f, p in zip(feeds, pad)], device=session.device)  # (K, F)
    new_mask = torch.tensor([[0] * p + [1] * len(f) for f, p in zip(feeds, pad)], device=session.device)
    offsets = torch.arange(width, device=session.device)
    positions = torch.stack([(s - p + offsets).clamp(min=0) for s, p in zip(starts, pad)])  # (K, F)
    layers = [(layer.keys[index, :, :columns], layer.values[index, :, :columns]) for layer in session.cache.layers]
    cache = DynamicCache(layers, config=decoder.model.config)
    mask = torch.cat([mask, new_mask.to(mask.dtype)], dim=1)  # (K, C+F)
    out = decoder.step_forward(decoder.model, forced, mask, positions, cache, ())

    texts = [IncrementalDetokenizer(decoder.tokenizer) for _ in requests]
    answers = [ForcedAnswer(req, "", [], []) for req in requests]
    running = list(range(len(requests)))
    next_pos = positions[:, -1] + 1  # (K,)
    closes_brace = decoder.setup.closes_brace
    for _ in range(max_tokens):
        probs = torch.softmax(out.logits, dim=-1)  # (K', V)
        tokens = probs.argmax(dim=-1)  # (K',)
        still = []
        for j, k in enumerate(running):
            token = int(tokens[j])
            if answers[k].take(token, float(probs[j, token]), texts[k], decoder.eos_ids, closes_brace):
                still.append(j)
        if not still:
            break
        keep = torch.tensor(still, device=session.device)
        select_rows(decoder.step_forward, cache, keep)
        running = [running[j] for j in still]
        mask = torch.cat([mask[keep], torch.ones_like(mask[keep][:, :1])], dim=1)
        next_pos = next_pos[keep]
        feed = tokens[keep].unsqueeze(1)  # (K', 1)
        out = decoder.step_forward(decoder.model, feed, mask, next_pos.unsqueeze(1), cache, ())
        next_pos = next_pos + 1
    return answers
