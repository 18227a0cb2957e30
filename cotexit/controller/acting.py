"""Acting on exits, the same for every engine: feed tokens to rows, ask the policies, answer exited rows.

Owns what every engine does around a decision (`cotexit.controller.decide`):

- `observe_token`: append an engine's newest token to a row, giving the cues
  it confirms their hidden states (an engine that watches a running
  generation from outside, `generate()`'s or vLLM's logits processor, sees
  each row once per step, after the forward that computed the newest token:
  its states are in that step's capture, the token before's in the
  previous step's; a cue is confirmed by the character after it, so it
  ends at one of those two tokens);
- `decide_exit`: ask the policies and record an exit in the row;
- `next_token`: which token a row takes next under the exit semantics (its
  queued forced-exit text, then the greedy answer, else the engine's own);
- `append_token`, `feed_forced`, `finish_with`, `follow_emitted`: append
  tokens and end the row by the one end rule (`RowState.finish_after`);
- `answer_exited`: answer rows that exited, given the engine's own batched
  greedy decode from token-id prefixes (engines that cannot take tokens
  back: `generate()`, offline vLLM);
- `trial_request` and `charge_trials`: where a forced-answer trial at a cue
  starts and what the row pays for the trials its policies looked at.

The decode loop feeds its rows itself (it cuts its cache in place) but asks
the same `next_exit`, takes tokens by `next_token` and charges trials here.
Engines own only how tokens and states are produced and how a forced text
is fed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from cotexit.controller.cues import CueEvent
from cotexit.controller.decide import next_exit
from cotexit.controller.policies import ExitPolicies
from cotexit.controller.rows import ExitInfo, RowState
from cotexit.controller.setup import ExitSetup, Limits
from cotexit.controller.trials import ForcedAnswer, ForcedRequest

States = Mapping[int, Any]  # {layer: (H,) tensor} at one token of one row
GreedyDecode = Callable[[list[list[int]], int], list[list[int]]]  # (token-id prefixes, max tokens) -> tokens of each


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


def next_token(row: RowState, engine_token: int, greedy: Callable[[], int]) -> tuple[int, bool]:
    """(token, from_forced): the row's queued forced-exit token, after an exit the greedy answer token, else the
    engine's own choice (sampled or greedy). The caller feeds it; a forced token is taken off the queue when
    it is appended (`append_token(..., from_forced=True)` after popping it)."""
    if row.forced:
        return row.forced[0], True
    if row.forced_char is not None:  # a forced answer is decoded greedily, like forced-answer trials
        return greedy(), False
    return engine_token, False


def append_token(row: RowState, token: int, limits: Limits, *, from_forced: bool) -> None:
    """Append a token the engine emitted (`from_forced`: one of a forced text) and end the row if it ends it."""
    row.append(token, len(row.tokens))
    row.finish_after(token, from_forced=from_forced, eos_ids=limits.eos_ids, max_new_tokens=limits.max_new_tokens,
                     answer_limit=limits.answer_limit)


def feed_forced(row: RowState, limits: Limits) -> None:
    """Append the forced-exit tokens an exit queued (an EOS among them does not end the row)."""
    while row.forced and not row.done:
        append_token(row, row.forced.pop(0), limits, from_forced=True)


def follow_emitted(row: RowState, emitted: Sequence[int], limits: Limits) -> None:
    """Append what an engine emitted past the row's tokens after an exit, the forced text it was made to
    write and the answer after it (a server, which cannot resubmit)."""
    while len(row.tokens) < len(emitted) and not row.done:
        forced = bool(row.forced)
        if forced:
            row.forced.pop(0)  # the token the last step forced
        append_token(row, emitted[len(row.tokens)], limits, from_forced=forced)


def finish_with(row: RowState, tokens: Iterable[int], limits: Limits) -> None:
    """Append tokens an engine generated until the row ends; one still open after them ran out of budget."""
    for token in tokens:
        if row.done:
            break
        append_token(row, token, limits, from_forced=False)
    if not row.done:
        row.finish("length")


def answer_exited(rows: Sequence[RowState], setup: ExitSetup, max_new_tokens: int, decode: GreedyDecode) -> None:
    """Finish rows that exited: feed each its forced-exit text, then its greedy answer from `decode`, which
    continues every prefix (prompt + kept tokens + forced-exit ids, as token ids) in one batch."""
    limits = setup.limits(max_new_tokens)
    for row in rows:
        feed_forced(row, limits)
    todo = [row for row in rows if not row.done]
    answers = decode([row.prompt_ids + row.tokens for row in todo], setup.max_answer_tokens) if todo else []
    for row, tokens in zip(todo, answers):
        finish_with(row, tokens, limits)


def trial_request(policies: ExitPolicies, index: int, row: RowState, cue: CueEvent) -> ForcedRequest:
    """The trial an exit at `cue` would answer from: the row's tokens up to where its semantics cut."""
    return ForcedRequest(index, policies.semantics.cut_at(cue, generated=len(row.tokens)))


def charge_trials(row: RowState, answers: Iterable[ForcedAnswer], forced_exit_ids: Sequence[int]) -> None:
    """The row pays for each trial its policies looked at: the forced-exit text and the answer tokens."""
    row.trial_tokens += sum(len(forced_exit_ids) + answer.cost_tokens for answer in answers)
