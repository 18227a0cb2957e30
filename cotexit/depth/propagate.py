"""Layer exit with state propagation (CALM): a confident token leaves the stack early.

Owns `PropagateForward`, a drop-in `step_forward` for the decode loop. For a
prompt it runs the whole stack. For a decode step it runs block by block; at
each exit point it measures every row's confidence; a row whose confidence
reaches that point's threshold takes its token from that layer. When every
row of the batch has exited, the remaining blocks are not run: their keys and
values for this position are computed from the current state (attention
projections only), so later tokens attend to a full cache. Rows that exited
earlier ride along with the batch until then with their state frozen at the
exit state, so the blocks they pass through write exactly the keys and
values propagation would: a row's tokens do not depend on which other rows
share its batch (which makes the rows of a calibration independent units).
Hidden states of skipped layers, if
asked for, are the exit state copied (what propagation assumes); as in
transformers, the last one is reported after the final norm.
The output is approximate: tokens may differ from full decoding.
"""

from __future__ import annotations

from typing import Any

import torch

from cotexit.depth.config import LayerExitConfig
from cotexit.depth.confidence import confidence
from cotexit.depth.stack import LayerStack
from cotexit.depth.stats import DepthStats
from cotexit.engines.loop.step import StepOutput, last_position


class PropagateForward:
    def __init__(self, model: Any, config: LayerExitConfig) -> None:
        if config.mode != "propagate":
            raise ValueError(f"PropagateForward needs mode='propagate', got {config.mode!r}")
        self.stack = LayerStack(model)
        self.config = config
        self.thresholds = config.threshold_at(self.stack.num_layers)
        self.stats = DepthStats(self.stack.num_layers)
        self.last_exit_layers: torch.Tensor | None = None

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
        stack, n = self.stack, self.stack.num_layers
        if input_ids.shape[1] > 1:  # the prompt: no exits
            logits, states = stack.full(input_ids, attention_mask, position_ids, cache)
            return StepOutput(logits, last_position(stack.hidden_states(states), layers) if layers else None)
        x = stack.begin(input_ids, attention_mask, position_ids)
        collected: list[torch.Tensor] = [x.hidden]

        batch = input_ids.shape[0]
        exit_layer = torch.full((batch,), n, dtype=torch.long, device=input_ids.device)  # (B,)
        exit_logits: list[torch.Tensor | None] = [None] * batch
        hidden, done_at, previous = x.hidden, n, None
        for layer in range(1, n + 1):
            x.hidden = hidden
            exited = (exit_layer < n).view(batch, 1, 1)  # rows that left at an earlier point
            hidden = torch.where(exited, hidden, stack.run(x, layer - 1, layer, cache))  # (B, 1, H)
            collected.append(hidden)
            self.stats.blocks_run += batch
            if layer not in self.thresholds:
                continue
            state = hidden[:, -1, :]  # (B, H)
            score, _ = confidence(stack, state, self.config.measure, previous)
            previous = state
            self.stats.head_evals += batch
            fresh = (score >= self.thresholds[layer]) & (exit_layer == n)  # (B,)
            if fresh.any():
                logits = stack.head(state).float()  # (B, V)
                for row in fresh.nonzero().flatten().tolist():
                    exit_layer[row] = layer
                    exit_logits[row] = logits[row]
            if bool((exit_layer < n).all()):
                done_at = layer
                break
        if done_at < n:
            x.hidden = hidden
            stack.propagate(x, hidden, done_at, cache)
            self.stats.blocks_propagated += batch * (n - done_at)
            collected.extend([hidden] * (n - done_at))
        final = stack.head(hidden[:, -1, :]).float() if done_at == n else None  # (B, V)
        rows = [exit_logits[r] if exit_logits[r] is not None else final[r] for r in range(batch)]
        self.stats.tokens += batch
        self.stats.exit_layer_sum += int(exit_layer.sum())
        self.last_exit_layers = exit_layer  # (B,) per row, for callers that account rows separately
        return StepOutput(torch.stack(rows), last_position(stack.hidden_states(collected), layers) if layers else None)
