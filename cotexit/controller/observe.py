"""Feeding an engine's newest token to a row, and acting on the policies' decision: shared by every engine
that watches a running generation from outside (`generate()`'s logits processor, vLLM's).

Owns `observe_token`, `decide_exit`, `RowStates`, and `Limits` with
`append_token`, `feed_forced` and `finish_with` (ending a row from the tokens an engine
returned, and after an exit its forced text and answer). Such an engine sees each row once per
step, after the forward that computed the newest token and before the next is
chosen: the newest token's states are in that step's capture, the token
before's in the previous step's. A cue is confirmed by the character after
it, so it ends at one of those two tokens. The decode loop feeds its rows
itself (`cotexit.engines.loop`) but asks the same `next_exit`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cotexit.controller.cues import CueEvent
from cotexit.controller.decide import next_exit
from cotexit.controller.policies import ExitPolicies
from cotexit.controller.rows import ExitInfo, RowState

States = Mapping[int, Any]  # {layer: (H,) tensor} at one token of one row


class RowStates(Mapping[int, Any]):
    """One row of a step's captured {layer: (B, H)}, read only if a cue needs it (most steps none does)."""

    __slots__ = ("states", "row")

    def __init__(self, states: Mapping[int, Any], row: int) -> None:
        self.states = states
        self.row = row

    def __getitem__(self, layer: int) -> Any:
        return self.states[layer][self.row]

    def __iter__(self):
        return iter(self.states)

    def __len__(self) -> int:
        return len(self.states)


def observe_token(row: RowState, token: int, *, now: States | None, before: States | None, eos_ids: set[int]) -> None:
    """Append the engine's newest token; cues it confirms get `now` (ending at it) or `before` (one earlier)."""
    found = row.append(token, len(row.tokens))
    row.fed = len(row.tokens)  # the forward behind this step computed the newest token's states
    newest = len(row.tokens) - 1
    for cue in found:
        source = now if cue.token_end == newest else before if cue.token_end == newest - 1 else None
        if source is not None:
            cue.hidden = {layer: state.float().cpu() for layer, state in source.items()}
    if token in eos_ids:
        row.finish("eos")


def decide_exit(
    policies: ExitPolicies,
    row: RowState,
    forced_exit_ids: list[int],
    trial: Callable[[CueEvent], None] | None = None,
) -> ExitInfo | None:
    """Ask the policies about the row's new cues and this step; on an exit, record it in the row.

    The step an exit is recorded at follows the decode loop's numbering: a cue confirmed by a later token
    is judged in the step that appended that token; one ending at the newest token, and per-step policies,
    in the next step.
    """
    decision = next_exit(policies, row, at_step=True, trial=trial)
    if decision is None:
        return None
    newest = len(row.tokens) - 1
    waited = decision.cue_index is None or row.cues[decision.cue_index].token_end == newest
    return row.exit_at(decision.policy, decision.cut, newest + waited, decision.cue_index, forced_exit_ids)


@dataclass(frozen=True)
class Limits:
    """What ends a row besides a closed answer: EOS, the token budget, the answer's budget after an exit."""

    eos_ids: set[int]
    max_new_tokens: int
    answer_limit: int  # forced-exit tokens + max answer tokens


def append_token(row: RowState, token: int, limits: Limits, *, from_forced: bool) -> None:
    """Append a token the engine emitted (`from_forced`: one of a forced text) and end the row if it ends it."""
    row.append(token, len(row.tokens))
    row.finish_after(token, from_forced=from_forced, eos_ids=limits.eos_ids, max_new_tokens=limits.max_new_tokens,
                     answer_limit=limits.answer_limit)


def feed_forced(row: RowState, limits: Limits) -> None:
    """Append the forced-exit tokens an exit queued (an EOS among them does not end the row)."""
    while row.forced and not row.done:
        append_token(row, row.forced.pop(0), limits, from_forced=True)


def finish_with(row: RowState, tokens: Iterable[int], limits: Limits) -> None:
    """Append tokens an engine generated until the row ends; one still open after them ran out of budget."""
    for token in tokens:
        if row.done:
            break
        append_token(row, token, limits, from_forced=False)
    if not row.done:
        row.finish("length")
