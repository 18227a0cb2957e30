"""Training examples for the toy model: token ids and loss masks.

Owns `encode_example` (prompt masked, reply trained; for forced-exit
examples the forced-exit text is masked too, so the model never learns to
close thinking on its own at a cue, only how to answer once it is closed)
and `sample_batch`, a pure function of (problems, seed, step) so training
resumes exactly. Knows nothing about models.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from cotexit.benchmarks.arith import ArithProblem
from cotexit.toy.tokenizer import prompt_text
from cotexit.toy.traces import EOS, TraceConfig, forced_reply, reply_text, write_trace

IGNORE = -100


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]  # IGNORE where no loss


def _ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def encode_example(tok, prob: ArithProblem, rng: random.Random, p_forced: float, trace_cfg: TraceConfig) -> Example:
    """One example: a full trace, or (with probability `p_forced`) a trace cut at a cue."""
    trace = write_trace(prob, rng, trace_cfg)
    prompt = _ids(tok, prompt_text(prob.text))
    cuts = trace.cut_points()
    if cuts and rng.random() < p_forced:
        prefix, forced, tail = forced_reply(trace, rng.choice(cuts))
        trained = _ids(tok, prefix)
        masked = _ids(tok, forced)
        answer = _ids(tok, tail + EOS)
        ids = prompt + trained + masked + answer
        labels = [IGNORE] * len(prompt) + trained + [IGNORE] * len(masked) + answer
    else:
        reply = _ids(tok, reply_text(trace) + EOS)
        ids = prompt + reply
        labels = [IGNORE] * len(prompt) + reply
    return Example(ids, labels)


def sample_batch(
    tok,
    problems: list[ArithProblem],
    *,
    seed: int,
    step: int,
    batch_tokens: int,
    p_forced: float,
    trace_cfg: TraceConfig,
    pad_id: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask, labels), each (B, T): as many examples as fit `batch_tokens` padded.

    Examples of similar length are grouped by drawing 4x candidates and
    keeping a run of neighbours in length order.
    """
    rng = random.Random(seed * 1_000_003 + step)
    pool = [encode_example(tok, problems[rng.randrange(len(problems))], rng, p_forced, trace_cfg) for _ in range(48)]
    pool.sort(key=lambda e: len(e.input_ids))
    start = rng.randrange(len(pool))
    chosen: list[Example] = []
    longest = 0
    for ex in pool[start:] + pool[:start][::-1]:
        longest_next = max(longest, len(ex.input_ids))
        if chosen and longest_next * (len(chosen) + 1) > batch_tokens:
            break
        chosen.append(ex)
        longest = longest_next
    T = longest
    ids = torch.full((len(chosen), T), pad_id, dtype=torch.long)  # (B, T)
    labels = torch.full((len(chosen), T), IGNORE, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(chosen), T), dtype=torch.long)  # (B, T)
    for i, ex in enumerate(chosen):
        n = len(ex.input_ids)
        ids[i, :n] = torch.tensor(ex.input_ids)
        labels[i, :n] = torch.tensor(ex.labels)
        mask[i, :n] = 1
    return ids, mask, labels
