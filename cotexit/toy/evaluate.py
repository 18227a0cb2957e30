"""Quick checks of a toy model: greedy accuracy, cues, forced exits, per-layer agreement.

Owns the measurements written into the toy model's card: greedy decoding
with `model.generate` on `arith` test problems, cue counts, the answer forced
at each cue (prefix up to just before the cue word + the forced-exit text,
greedy number), the oracle that stops at the first cue from which the forced
answer is right and stays right, and the teacher-forced per-layer top-1
agreement with the final layer. The project's benchmark runner is the
reference for published numbers; this module is for training and tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from cotexit.depth.analysis.states import block_outputs
from cotexit.models.parts import exit_head
from cotexit.benchmarks.arith_splits import arith_structured
from cotexit.toy.tokenizer import prompt_text
from cotexit.toy.traces import FORCED_EXIT, THINK_END, THINK_START, reply_text, write_trace

CUE_RE = re.compile(r"(?m)^(Wait|Hmm|Alternatively|But wait|Let me verify|Let me double-check)\b")
BOXED_RE = re.compile(r"\\boxed\{(-?\d+)\}")


@dataclass(frozen=True)
class Decoded:
    thinking: str  # text between <think>\n and \n</think> (or all if unclosed)
    answer: str | None
    n_think_tokens: int


def _left_pad(tok, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    enc = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    T = max(map(len, enc))
    ids = torch.full((len(enc), T), tok.pad_token_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(enc), T), dtype=torch.long)  # (B, T)
    for i, e in enumerate(enc):
        ids[i, T - len(e) :] = torch.tensor(e)
        mask[i, T - len(e) :] = 1
    return ids, mask


@torch.no_grad()
def greedy(model, tok, texts: list[str], max_new_tokens: int, batch_size: int = 32) -> list[str]:
    """Greedy continuations of `texts` (decoded, special tokens kept, cut at EOS)."""
    out: list[str] = []
    for i in range(0, len(texts), batch_size):
        ids, mask = _left_pad(tok, texts[i : i + batch_size])
        gen = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )
        for row in gen[:, ids.shape[1] :]:
            toks = row.tolist()
            if tok.eos_token_id in toks:
                toks = toks[: toks.index(tok.eos_token_id)]
            out.append(tok.decode(toks, skip_special_tokens=False).replace(tok.pad_token, ""))
    return out


def parse_reply(tok, reply: str) -> Decoded:
    body = reply[len(THINK_START) + 1 :] if reply.startswith(THINK_START + "\n") else reply
    thinking = body.split("\n" + THINK_END)[0]
    m = BOXED_RE.search(body[len(thinking) :]) if THINK_END in body else None
    n = len(tok(thinking, add_special_tokens=False)["input_ids"])
    return Decoded(thinking, m.group(1) if m else None, n)


def _forced_answers(model, tok, prompts: list[str], prefixes: list[str]) -> list[str | None]:
    texts = [p + THINK_START + "\n" + pre + FORCED_EXIT for p, pre in zip(prompts, prefixes)]
    outs = greedy(model, tok, texts, max_new_tokens=6, batch_size=64)
    return [(m.group(1) if (m := re.match(r"(-?\d+)\}", o)) else None) for o in outs]


def behaviour(model, tok, n_problems: int = 100, max_new_tokens: int = 640) -> dict:
    """Greedy full-thinking accuracy, cue counts, first-cue forced accuracy and oracle savings."""
    probs = arith_structured("test", n_problems)
    prompts = [prompt_text(p.text) for p in probs]
    decoded = [parse_reply(tok, r) for r in greedy(model, tok, prompts, max_new_tokens)]
    full_right = [d.answer == str(p.answer) for d, p in zip(decoded, probs)]
    # One forced trial per cue of every run.
    trial_rows, trial_pre, trial_prompt = [], [], []
    for i, d in enumerate(decoded):
        for m in CUE_RE.finditer(d.thinking):
            trial_rows.append(i)
            trial_pre.append(d.thinking[: m.start()])
            trial_prompt.append(prompts[i])
    forced = _forced_answers(model, tok, trial_prompt, trial_pre) if trial_rows else []
    per_row: dict[int, list[tuple[str, bool]]] = {}
    for row, pre, ans in zip(trial_rows, trial_pre, forced):
        per_row.setdefault(row, []).append((pre, ans == str(probs[row].answer)))
    first_right, saved, total = [], 0, 0
    for i, d in enumerate(decoded):
        trials = per_row.get(i, [])
        first_right.append(bool(trials) and trials[0][1])
        total += d.n_think_tokens
        if not full_right[i]:
            continue
        stop = None  # earliest cue from which every forced answer is right
        for k in range(len(trials)):
            if all(ok for _, ok in trials[k:]):
                stop = trials[k][0]
                break
        if stop is not None:
            saved += d.n_think_tokens - len(tok(stop, add_special_tokens=False)["input_ids"])
    n = len(probs)
    return {
        "n_problems": n,
        "accuracy_full": sum(full_right) / n,
        "accuracy_forced_first_cue": sum(first_right) / n,
        "frac_ge2_cues": sum(len(CUE_RE.findall(d.thinking)) >= 2 for d in decoded) / n,
        "mean_cues": sum(len(CUE_RE.findall(d.thinking)) for d in decoded) / n,
        "mean_think_tokens": total / n,
        "frac_closed": sum(d.answer is not None for d in decoded) / n,
        "oracle_token_savings": saved / max(total, 1),
    }


@torch.no_grad()
def layer_agreement(model, tok, n_problems: int = 100) -> list[float]:
    """Per layer: fraction of reply positions whose top-1 (final norm + LM head) equals the last layer's."""
    import random

    probs = arith_structured("test", n_problems)
    head = exit_head(model)
    agree = torch.zeros(head.num_layers)
    count = 0
    for p in probs:
        prompt = tok(prompt_text(p.text), add_special_tokens=False)["input_ids"]
        reply = tok(reply_text(write_trace(p, random.Random(0))), add_special_tokens=False)["input_ids"]
        states = block_outputs(model, prompt + reply, head)  # (N, T, H)
        top = head.lm_head(head.norm(states[:, len(prompt) - 1 : -1])).argmax(-1)  # (N, len(reply))
        agree += (top == top[-1]).sum(-1).float()
        count += len(reply)
    return [round(float(a) / count, 4) for a in agree]
