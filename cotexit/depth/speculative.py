"""Exact layer exit: self-speculative decoding, output identical to full greedy decoding.

Owns `SpeculativeForward`, a drop-in `step_forward` for the decode loop
(greedy decoding, any batch size). Each row keeps a queue of tokens the full
stack has already verified, with their logits; a fed token equal to the head
of its row's queue is answered from the queue without computing anything.
When some row's queue is empty, one draft-and-verify cycle runs for every
row, starting from its fed token:

- `layer:E` drafts: the fed token runs blocks 1..E; the draft layer's top-1
  token (final norm + LM head through the fused exit-statistics kernel,
  `cotexit.depth.kernels`) is the next draft, which runs blocks 1..E in turn,
  and so on while `DraftPolicy` judges the next draft worth its step. Then
  blocks E+1..N verify the fed token and all drafts in one pass from their
  own layer-E states. The fed token never runs a separate full pass.
- `context` drafts: what followed the latest earlier occurrence of the
  context's tail (`cotexit.depth.drafters`), verified with the fed token in
  one pass of the whole stack.
- `plain`: the fed token alone through the whole stack (zero drafts).

`DraftPolicy` (`cotexit.depth.adaptive`) picks the arm per cycle, the one
that has measured fastest, and how many drafts it makes. With several
candidate draft layers (`draft_layers`) each is an arm of its own, so the
layer drafts come from is chosen per model and text by measured speed. The agreeing prefix of each row's drafts is queued with its
full-stack logits. Rows accept different numbers of drafts, so the cache is
kept per-row correct this way: every cycle first crops the cache to the
loop's own columns, and a row that still had queued tokens feeds them again
(as known tokens, verified again in the same pass; a plain cycle gives them
up instead, to cost what plain decoding costs) before its new drafts,
which fill the cycle up to `max_draft` tokens after the fed one; columns past
a row's accepted tokens are never read before the next crop. A
fed token that differs from its row's queue (a sampled or forced token) drops
that queue, so the engine never returns logits the full model would not.

With no config (or `LayerExitConfig(mode="exact")`) the engine runs the
defaults `eval/speculative` measured fastest (`cotexit.depth.config.EXACT_DEFAULTS`):
candidate draft layers N/8, N/4 and N/2 of the model's N, the `auto` drafter,
at most 10 drafts per cycle.

`engine_factory` makes fresh engines that share one draft policy: a
benchmark's batches each get an engine of their own, and the policy does
not learn the model's speeds again for every batch.

The state lives per KV cache, so a forced-answer trial on a copy of the
cache is decoded correctly too; the loop tells the engine when rows leave
the batch (`select_rows`).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from cotexit.depth.adaptive import DraftPolicy, arm_layer
from cotexit.depth.confidence import confidence
from cotexit.depth.config import LayerExitConfig
from cotexit.depth.drafters import context_draft
from cotexit.depth.stack import LayerStack
from cotexit.depth.stats import DepthStats
from cotexit.engines.loop.step import StepOutput, last_position
from cotexit.models.flops import block_flops, head_flops


@dataclass
class _Verified:
    token: int
    logits: torch.Tensor  # (V,) full-stack logits after this token
    hidden: dict[int, torch.Tensor] | None  # {layer: (H,)} at this token, the layers asked for


@dataclass
class _Row:
    history: list[int] = field(default_factory=list)  # tokens fed so far (what context drafts match)
    queue: list[_Verified] = field(default_factory=list)


class SpeculativeForward:
    """
    >>> # engine = SpeculativeForward(model)  # the defaults: draft layers N/8, N/4, N/2, auto drafter, 10 drafts
    >>> # Decoder(model, tokenizer, fmt, step_forward=engine).generate(prompts)  # greedy decoding's text, faster
    """

    def __init__(self, model: Any, config: LayerExitConfig | None = None, *, policy: DraftPolicy | None = None) -> None:
        config = config if config is not None else LayerExitConfig(mode="exact")
        if config.mode != "exact":
            raise ValueError(f"SpeculativeForward needs mode='exact', got {config.mode!r}")
        self.stack = LayerStack(model)
        self.config = config
        self.draft_layers = config.draft(self.stack.num_layers)
        self.stats = DepthStats(self.stack.num_layers)
        costs = {e: self._flop_cost(e) for e in self.draft_layers}
        self.policy = policy or DraftPolicy(config.drafter, draft_cost=costs, adaptive=config.adaptive)
        self._rows: weakref.WeakKeyDictionary[Any, list[_Row]] = weakref.WeakKeyDictionary()

    def _flop_cost(self, layer: int) -> float:
        """A draft step from `layer` relative to a plain step by FLOPs: the prior until both are timed."""
        attn, mlp = block_flops(self.stack.model.config, context=256)
        head = head_flops(self.stack.model.config)
        return (layer * (attn + mlp) + head) / (self.stack.num_layers * (attn + mlp) + head)

    def select_rows(self, cache: Any, index: torch.Tensor) -> None:
        """Rows `index` of the batch on `cache` carry on (the loop dropped the others)."""
        rows = self._rows.get(cache)
        if rows is not None:
            self._rows[cache] = [rows[i] for i in index.tolist()]

    @torch.inference_mode()
    def __call__(
        self,
        model: Any,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        cache: Any,
        layers: tuple[int, ...],
    ) -> StepOutput:
        batch, width = input_ids.shape
        columns = attention_mask.shape[1]
        if width > 1:  # a prompt, or forced text fed in one piece: the whole stack, nothing to draft
            self.policy.pause()
            rows = self._rows.get(cache)
            if rows is None or len(rows) != batch:
                rows = self._rows[cache] = [_Row() for _ in range(batch)]
            _crop_to(cache, columns - width)
            for b, row in enumerate(rows):
                row.queue.clear()
                real = attention_mask[b, -width:].bool()
                row.history.extend(input_ids[b][real].tolist())
            logits, states = self.stack.full(input_ids, attention_mask, position_ids, cache)
            return StepOutput(logits, last_position(self.stack.hidden_states(states), layers) if layers else None)

        rows = self._rows.get(cache)
        if rows is None or len(rows) != batch:
            raise RuntimeError(
                f"exact layer exit got {batch} rows on a cache it holds {0 if rows is None else len(rows)} for; "
                "a decode loop that drops rows must call select_rows(cache, index)"
            )
        self.policy.step()
        fed = input_ids[:, 0].tolist()
        answered: list[_Verified | None] = []
        for row, token in zip(rows, fed):
            row.history.append(token)
            if row.queue and row.queue[0].token == token:
                answered.append(row.queue.pop(0))
            else:
                row.queue.clear()
                answered.append(None)
        if all(a is not None for a in answered):
            self.stats.tokens += batch
            logits = torch.stack([a.logits for a in answered])
            hidden = {l: torch.stack([a.hidden[l] for a in answered]) for l in layers} if layers else None
            return StepOutput(logits, hidden)
        return self._cycle(rows, fed, attention_mask, position_ids, cache, layers)

    # --- one draft-and-verify cycle for every row -----------------------------
    def _cycle(self, rows, fed, mask, pos, cache, layers) -> StepOutput:
        _crop_to(cache, mask.shape[1] - 1)
        known = [[token] + [q.token for q in row.queue] for row, token in zip(rows, fed)]
        for row in rows:
            row.queue.clear()
        self.stats.tokens += len(rows)
        arm = self.policy.choose()
        proposals = [[] for _ in rows]
        if arm == "context":
            room = [self.policy.context_length(1 + self.config.max_draft - len(kn)) for kn in known]
            proposals = [
                context_draft(row.history + kn[1:], self.config.ngram, k) if k > 0 else []
                for row, kn, k in zip(rows, known, room)
            ]
            if not any(proposals):
                arm = self.policy.fallback()
        if arm == "plain":  # zero drafts: the fed tokens alone, as plain decoding (queued tokens are given up)
            known = [kn[:1] for kn in known]
        self.policy.ran(arm)
        began = time.perf_counter()
        layer = arm_layer(arm)
        if layer is not None:
            seqs, confidences, logits, states = self._draft_from_layer(known, layer, mask, pos, cache, layers)
        else:
            seqs, confidences = [kn + p for kn, p in zip(known, proposals)], None
            logits, states = self._whole_stack(seqs, mask, pos, cache, layers)
            self.policy.time_pass(max(len(s) for s in seqs), time.perf_counter() - began)
        return self._accept(rows, seqs, known, confidences, arm, layer, logits, states, mask.shape[1], cache, layers)

    def _whole_stack(self, seqs, mask, pos, cache, layers):
        """Every row's sequence through all blocks in one pass: (logits (B, T, V), N+1 states (B, T, H) or None)."""
        width = max(len(s) for s in seqs)
        ids = torch.tensor([s + [s[-1]] * (width - len(s)) for s in seqs], device=mask.device)  # right-padded
        full_mask = torch.cat([mask, torch.ones_like(mask[:, :1]).expand(-1, width - 1)], dim=1)
        x = self.stack.begin(ids, full_mask, pos + torch.arange(width, device=mask.device))
        states = [x.hidden] if layers else None
        out = self.stack.run(x, 0, self.stack.num_layers, cache, states)
        real = sum(len(s) for s in seqs)
        self.stats.blocks_run += real * self.stack.num_layers
        self.stats.exit_layer_sum += real * self.stack.num_layers
        self.stats.head_evals += real
        return self.stack.head(out).float(), states

    def _draft_from_layer(self, known, e, mask, pos, cache, layers):
        """Drafts from layer `e`, one position per step for every row, then blocks e+1..N verify all at once."""
        stack, n = self.stack, self.stack.num_layers
        seqs = [list(kn) for kn in known]
        confidences: list[list[float]] = [[] for _ in seqs]
        drafting = [True] * len(seqs)
        reach = [1.0] * len(seqs)  # estimated probability that every draft of the row so far is accepted
        early, early_states, step_mask = [], [], mask
        j = 0
        while True:
            if j:
                step_mask = torch.cat([step_mask, torch.ones_like(step_mask[:, :1])], dim=1)
            ids = torch.tensor([[s[j] if j < len(s) else s[-1]] for s in seqs], device=mask.device)  # (B, 1)
            began = time.perf_counter()
            x = stack.begin(ids, step_mask, pos + j)
            states = [x.hidden] if layers else None
            h = stack.run(x, 0, e, cache, states)  # (B, 1, H)
            early.append(h)
            early_states.append(states)
            real = sum(j < len(s) for s in seqs)
            self.stats.blocks_run += real * e
            self.stats.exit_layer_sum += real * e
            room = 1 + self.config.max_draft  # the fed token, then known tokens and drafts
            cap = self.policy.draft_cap(e)
            asking = [
                b for b, s in enumerate(seqs)
                if drafting[b] and j == len(s) - 1 and len(s) < room and (cap is None or len(s) - len(known[b]) < cap)
            ]
            if asking:
                top1_prob, top1 = confidence(stack, h[asking, 0, :], "softmax")  # fused exit statistics
                self.stats.head_evals += len(asking)
                for b, token, conf in zip(asking, top1.tolist(), top1_prob.tolist()):
                    chance = reach[b] * self.policy.acceptance(conf, e)
                    if self.policy.keep_drafting(chance, e):
                        seqs[b].append(token)
                        confidences[b].append(conf)
                        reach[b] = chance
                if j == 0:
                    self.policy.time_draft(e, time.perf_counter() - began)
            for b, s in enumerate(seqs):
                drafting[b] = drafting[b] and len(s) > j + 1
            if all(len(s) <= j + 1 for s in seqs):
                break
            j += 1
        width = j + 1
        xv = stack.prepare(torch.cat(early, dim=1), step_mask, pos + torch.arange(width, device=mask.device))
        late = [] if layers else None
        out = stack.run(xv, e, n, cache, late)  # (B, T, H)
        real = sum(len(s) for s in seqs)
        self.stats.blocks_run += real * (n - e)
        self.stats.exit_layer_sum += real * (n - e)
        self.stats.head_evals += real
        states = None
        if layers:
            states = [torch.cat([s[i] for s in early_states], dim=1) for i in range(e + 1)] + late
        return seqs, confidences, stack.head(out).float(), states

    def _accept(self, rows, seqs, known, confidences, arm, layer, logits, states, columns, cache, layers) -> StepOutput:
        """Keep each row's agreeing prefix; answer the fed tokens; queue the rest with their full-stack logits."""
        hidden_states = self.stack.hidden_states(states) if layers else None
        predicted = logits.argmax(-1).tolist()  # (B, T): the full stack's next token after each position
        longest = 1
        for b, (row, seq) in enumerate(zip(rows, seqs)):
            agree = 0
            while agree + 1 < len(seq) and predicted[b][agree] == seq[agree + 1]:
                agree += 1
            drafted = len(seq) - len(known[b])
            accepted = max(0, agree - (len(known[b]) - 1))
            self.stats.drafted += drafted
            self.stats.accepted += accepted
            if arm == "context":
                self.stats.drafted_context += drafted
                self.stats.accepted_context += accepted
                self.policy.observe_context(drafted, accepted)
            if confidences is not None and confidences[b]:
                self.policy.observe(confidences[b], accepted, layer)
            for j in range(1, agree + 1):
                hidden = {l: hidden_states[l][b, j] for l in layers} if layers else None
                row.queue.append(_Verified(seq[j], logits[b, j], hidden))
            longest = max(longest, agree + 1)
        _crop_to(cache, columns - 1 + longest)
        hidden = {l: hidden_states[l][:, 0, :] for l in layers} if layers else None
        return StepOutput(logits[:, 0, :], hidden)


def engine_factory(model: Any, config: LayerExitConfig | None = None) -> Callable[[], SpeculativeForward]:
    """Fresh engines (`bench` makes one per batch) that share one draft policy, so what it measured on this model
    and machine (each arm's rate, acceptance, step costs, draft caps) carries over to the next batch instead of
    being learnt again, warm-up and short first drafts included, for every batch.

    >>> # make = engine_factory(model); first, second = make(), make()  # second starts from what first measured
    """
    shared: list[DraftPolicy] = []

    def make() -> SpeculativeForward:
        engine = SpeculativeForward(model, config, policy=shared[0] if shared else None)
        shared[:] = [engine.policy]
        return engine

    return make


def _crop_to(cache: Any, length: int) -> None:
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)
