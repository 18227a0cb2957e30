"""Greedy answers after a forced exit, decoded with `model.generate()` from token-id prefixes.

Owns `decode_answers`. Each prefix is a prompt's ids, the kept generated ids
and the forced-exit ids (never re-tokenized text); all prefixes run as one
left-padded greedy `generate()` batch that stops a row once the brace the
forced text opened is closed, or at EOS, or after `max_tokens`. Used for the
answers of rows that exited (the `generate()` engine cannot take tokens back,
so it decodes them afterwards from the cut prefix) and for forced-answer
trials of baseline policies. It returns tokens and their probabilities; what
they mean to a row is the controller's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from cotexit.controller.semantics import answer_closed
from cotexit.engines.batching import left_pad


@dataclass
class DecodedAnswer:
    token_ids: list[int]  # greedy tokens after the prefix, the EOS that ended it included
    token_probs: list[float]  # softmax probability of each


class _BraceClosed(StoppingCriteria):
    """True for a row once the text it generated after `start` closes one more brace than it opens."""

    def __init__(self, tokenizer: object, start: int) -> None:
        self.tokenizer = tokenizer
        self.start = start

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: object) -> torch.BoolTensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.start :], skip_special_tokens=False)
        return torch.tensor([answer_closed(t) for t in texts], device=input_ids.device)


@torch.inference_mode()
def decode_answers(
    model: object,
    tokenizer: object,
    prefixes: Sequence[Sequence[int]],
    *,
    max_tokens: int,
    eos_ids: set[int],
    pad_id: int,
    brace: bool = True,
) -> list[DecodedAnswer]:
    """Greedy continuation of every prefix in one `generate()` call; answers in prefix order."""
    if not prefixes:
        return []
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    device = next(model.parameters()).device
    ids, mask = left_pad(prefixes, pad_id)  # (K, T)
    stopping = StoppingCriteriaList([_BraceClosed(tokenizer, ids.shape[1])]) if brace else None
    out = model.generate(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        do_sample=False,
        max_new_tokens=max_tokens,
        eos_token_id=sorted(eos_ids),
        pad_token_id=pad_id,
        stopping_criteria=stopping,
        output_scores=True,
        return_dict_in_generate=True,
    )
    new = out.sequences[:, ids.shape[1] :]  # (K, S)
    probs = [torch.softmax(step.float(), dim=-1) for step in out.scores]  # S x (K, V)
    answers = []
    for k in range(len(prefixes)):
        tokens, token_probs = [], []
        for s in range(new.shape[1]):
            token = int(new[k, s])
            tokens.append(token)
            token_probs.append(float(probs[s][k, token]))
            if token in eos_ids or (brace and answer_closed(tokenizer.decode(tokens, skip_special_tokens=False))):
                break
        answers.append(DecodedAnswer(tokens, token_probs))
    return answers
