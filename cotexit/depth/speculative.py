"""Exact layer exit: self-speculative decoding (LayerSkip), output identical to full greedy decoding.

Owns `SpeculativeForward`, a drop-in `step_forward` for the decode loop, for
one row at a time and greedy decoding. When the loop feeds a token and no
verified tokens are queued, it runs the full stack on it (the true next-token
logits), then drafts up to `max_draft - 1` further tokens and verifies them:
- layer drafts (`drafter="layer"`): from the draft layer's prediction (blocks
  1..E only), verified in one pass of blocks E+1..N started from the drafts'
  own layer-E states;
- context drafts (`"context"`, and `"auto"` when the context has a match):
  the tokens that followed the latest earlier occurrence of the context's
  tail (`cotexit.depth.drafters`), verified in one pass of the whole stack. The
agreeing prefix is accepted and queued with its full-stack logits; every
cache entry past it is cropped. As the loop feeds the queued tokens their
logits are returned without computing anything. A fed token that differs
from the queue (a sampled or forced token) drops the queue and crops it from
the cache, so the engine never returns logits the full model would not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from cotexit.depth.accounting import DepthStats
from cotexit.depth.config import LayerExitConfig
from cotexit.depth.drafters import context_draft
from cotexit.depth.stack import LayerStack
from cotexit.engines.loop.step import StepOutput, last_position


@dataclass
class _Queued:
    token: int
    logits: torch.Tensor  # (V,) full-stack logits after this token
    hidden: dict[int, torch.Tensor] | None  # {layer: (1, H)} at this token, the layers asked for


class SpeculativeForward:
    def __init__(self, model: Any, config: LayerExitConfig) -> None:
        if config.mode != "exact":
            raise ValueError(f"SpeculativeForward needs mode='exact', got {config.mode!r}")
        self.stack = LayerStack(model)
        self.config = config
        self.draft_layer = config.draft(self.stack.num_layers)
        self.stats = DepthStats(self.stack.num_layers)
        self.queue: list[_Queued] = []
        self.history: list[int] = []  # the row's tokens so far (prompt and fed tokens): what context drafts match

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
        stack = self.stack
        if input_ids.shape[0] != 1:
            raise ValueError(f"exact layer exit decodes one row at a time; got a batch of {input_ids.shape[0]}")
        if input_ids.shape[1] > 1:  # the prompt
            self._drop_queue(cache)
            self.history = input_ids[0].tolist()
            logits, states = stack.full(input_ids, attention_mask, position_ids, cache)
            return StepOutput(logits, last_position(stack.hidden_states(states), layers) if layers else None)

        token = int(input_ids[0, 0])
        self.history.append(token)
        if self.queue and self.queue[0].token == token:
            item = self.queue.pop(0)
            self.stats.tokens += 1  # its blocks were counted in the cycle that verified it
            return StepOutput(item.logits.unsqueeze(0), item.hidden if layers else None)
        self._drop_queue(cache)
        return self._cycle(input_ids, attention_mask, position_ids, cache, layers)

    def _drop_queue(self, cache: Any) -> None:
        if self.queue:
            cache.crop(-len(self.queue))
            self.queue = []

    def _cycle(self, input_ids, attention_mask, position_ids, cache, layers) -> StepOutput:
        stack, n, e = self.stack, self.stack.num_layers, self.draft_layer
        # 1. The fed token through the whole stack: the true next-token logits.
        logits, states = stack.full(input_ids, attention_mask, position_ids, cache)  # (1, V)
        blocks_before = self.stats.blocks_run
        self.stats.blocks_run += n
        self.stats.tokens += 1
        if self.config.drafter != "layer" and self.config.max_draft > 1:
            proposal = context_draft(self.history + [int(logits.argmax(-1))], self.config.ngram, self.config.max_draft - 1)
            if proposal or self.config.drafter == "context":
                return self._verify_context(logits, states, proposal, attention_mask, position_ids, cache, layers, blocks_before)
        # 2. Draft: the greedy next token, then more from layer E alone.
        drafts, draft_states, draft_hidden = [int(logits.argmax(-1))], [], []
        mask, pos = attention_mask, position_ids
        for _ in range(self.config.max_draft - 1):
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            pos = pos + 1
            xd = stack.begin(torch.tensor([[drafts[-1]]], device=input_ids.device), mask, pos)
            early: list[torch.Tensor] = [xd.hidden]
            h_e = stack.run(xd, 0, e, cache, early)  # (1, 1, H)
            self.stats.blocks_run += e
            self.stats.head_evals += 1
            draft_states.append(h_e)
            draft_hidden.append(early)
            drafts.append(int(stack.head(h_e[:, -1, :]).argmax(-1)))
        proposed = drafts[1:]  # tokens after the greedy one, each from layer E
        if not draft_states:
            self.stats.exit_layer_sum += self.stats.blocks_run - blocks_before
            return StepOutput(logits, last_position(stack.hidden_states(states), layers) if layers else None)
        # 3. Verify the drafted positions with blocks E+1..N in one pass from their layer-E states.
        k = len(draft_states)
        block_pos = position_ids + torch.arange(1, k + 1, device=input_ids.device)  # (1, k)
        xv = stack.prepare(torch.cat(draft_states, dim=1), mask, block_pos)
        late: list[torch.Tensor] = []
        verified = stack.run(xv, e, n, cache, late)  # (1, k, H)
        full_logits = stack.head(verified[0]).float()  # (k, V): next-token logits after drafts[0..k-1]
        self.stats.blocks_run += k * (n - e)
        self.stats.drafted += len(proposed)
        # drafts[0] is certain; drafts[i] (i >= 1) is accepted while it equals the full argmax after drafts[i-1].
        accepted = 0
        while accepted < len(proposed) and int(full_logits[accepted].argmax()) == proposed[accepted]:
            accepted += 1
        self.stats.accepted += accepted
        # In exact mode "layers per token" is every block evaluated (full pass, drafts, verification) per token.
        self.stats.exit_layer_sum += self.stats.blocks_run - blocks_before
        # The cache holds drafts[0..k-1]. Queue drafts[0..accepted] (at most k: the last draft has no states
        # yet, it is fed next like any token) with their full-stack logits; crop the rest.
        keep = min(accepted + 1, k)
        if keep < k:
            cache.crop(-(k - keep))
        for i in range(keep):
            hidden_i = None
            if layers:
                states_i = [h[:, :1, :] for h in draft_hidden[i]] + [h[:, i : i + 1, :] for h in late]
                hidden_i = last_position(stack.hidden_states(states_i), layers)
            self.queue.append(_Queued(drafts[i], full_logits[i], hidden_i))
        return StepOutput(logits, last_position(stack.hidden_states(states), layers) if layers else None)

    def _verify_context(self, logits, states, proposal, attention_mask, position_ids, cache, layers, blocks_before) -> StepOutput:
        """Verify context drafts: the greedy token and the proposal through the whole stack in one pass."""
        stack, n = self.stack, self.stack.num_layers
        first = StepOutput(logits, last_position(stack.hidden_states(states), layers) if layers else None)
        if not proposal:  # nothing to draft from the context: a plain step
            self.stats.exit_layer_sum += self.stats.blocks_run - blocks_before
            return first
        fed = [int(logits.argmax(-1)), *proposal]  # (k + 1): the certain token, then the drafts
        k = len(proposal)
        mask = torch.cat([attention_mask, torch.ones_like(attention_mask[:, :1]).expand(-1, k + 1)], dim=1)
        positions = position_ids + torch.arange(1, k + 2, device=position_ids.device)  # (1, k + 1)
        x = stack.begin(torch.tensor([fed], device=position_ids.device), mask, positions)
        collected = [x.hidden]
        verified = stack.run(x, 0, n, cache, collected)  # (1, k + 1, H)
        full_logits = stack.head(verified[0]).float()  # (k + 1, V): next-token logits after each fed token
        self.stats.blocks_run += (k + 1) * n
        self.stats.drafted += k
        self.stats.drafted_context += k
        accepted = 0
        while accepted < k and int(full_logits[accepted].argmax()) == proposal[accepted]:
            accepted += 1
        self.stats.accepted += accepted
        self.stats.accepted_context += accepted
        self.stats.exit_layer_sum += self.stats.blocks_run - blocks_before
        keep = accepted + 1  # the certain token and the accepted drafts, each with its full-stack logits
        if keep < k + 1:
            cache.crop(-(k + 1 - keep))
        for i in range(keep):
            hidden_i = last_position(stack.hidden_states([h[:, i : i + 1, :] for h in collected]), layers) if layers else None
            self.queue.append(_Queued(fed[i], full_logits[i], hidden_i))
        return first
