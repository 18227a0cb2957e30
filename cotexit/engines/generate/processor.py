"""The controller inside an unmodified `model.generate()`: a logits processor that watches, scores and stops.

Owns `ExitProcessor`. transformers calls a logits processor once per step,
after the forward that computed the newest token's logits and before the
next token is chosen, with every row's ids so far. At that moment the
probe's layers at the newest token are in the forward hooks of a
`cotexit.engines.tap.LayerTap` (the hooks the decode loop uses), so:

1. the newest token of each running row is appended to its controller row
   (`cotexit.controller.acting.observe_token`): text, thinking phase, cues;
   cues ending at that token get its states, cues ending one token earlier
   the states kept from the previous step;
2. `cotexit.controller.acting.decide_exit` asks the policies, exactly as
   the decode loop does;
3. a row that exits is recorded cut where its policies' exit semantics say
   (`cotexit.controller.semantics`; before the cue by default) and its logits are masked to EOS, so `generate()`
   finishes it on the next token. `generate()` cannot take tokens back: the
   engine (`cotexit.engines.generate.engine`) decodes the answer from the
   cut prefix afterwards. Rows that already finished are masked to EOS too.

The processor starts a new batch whenever it sees ids that do not continue
the previous call's. It knows nothing about probes (a policy) or how the
final answers are decoded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from transformers import LogitsProcessor

from cotexit.controller.acting import RowStates, decide_exit, observe_token
from cotexit.controller.cues import CueEvent
from cotexit.controller.rows import RowState
from cotexit.controller.setup import ExitSetup
from cotexit.engines.tap import LayerTap

TrialRunner = Callable[[int, RowState, CueEvent], None]  # (row index, row, cue) -> sets cue.trial


class ExitProcessor(LogitsProcessor):
    """Runs the controller over `generate()`'s rows; `rows` holds each row's state after the call."""

    def __init__(self, setup: ExitSetup, tap: LayerTap | None, *, trial: TrialRunner | None = None) -> None:
        self.setup = setup
        self.tap = tap
        self.trial = trial
        self.keys: list[str] | None = None  # names for the next batch's rows (set by the engine)
        self.rows: list[RowState] = []
        self.prompt_width = 0  # columns of generate()'s input_ids that are prompt (left-padded)
        self.stopped: list[bool] = []  # rows generate() must end: exited or finished
        self._ids: torch.Tensor | None = None  # input_ids at the previous call
        self._previous: dict[int, torch.Tensor] | None = None  # {layer: (B, H)} at the previous newest token

    def begin(self, input_ids: torch.Tensor) -> None:
        """Start a batch: one controller row per row of `input_ids` (left pads stripped from the prompts)."""
        batch, width = input_ids.shape
        keys = self.keys if self.keys is not None and len(self.keys) == batch else [str(i) for i in range(batch)]
        self.rows = []
        for key, ids in zip(keys, input_ids.tolist()):
            start = next((i for i, t in enumerate(ids) if t != self.setup.pad_id), len(ids))
            self.rows.append(self.setup.new_row(key, ids[start:]))
        self.prompt_width = width
        self.stopped = [False] * batch
        self._previous = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if not self._continues(input_ids):
            self.begin(input_ids)
        self._ids = input_ids
        states = dict(self.tap.states) if self.tap is not None and self.tap.states is not None else None
        step = input_ids.shape[1] - self.prompt_width - 1  # index of the newest generated token (-1: the prompt only)
        newest = input_ids[:, -1].tolist()
        for b, row in enumerate(self.rows):
            if self.stopped[b]:
                continue
            if step >= 0:
                now = RowStates(states, b) if states is not None else None
                before = RowStates(self._previous, b) if self._previous is not None else None
                observe_token(row, newest[b], now=now, before=before, eos_ids=self.setup.eos_ids)
            trial = self._trial_for(b, row)
            if row.done or decide_exit(self.setup.policies, row, self.setup.forced_exit_ids, trial) is not None:
                self.stopped[b] = True
        if any(self.stopped):
            stop = torch.tensor(self.stopped, device=scores.device)  # (B,)
            forced = torch.full_like(scores, float("-inf"))  # (B, V)
            forced[:, self.setup.stop_id] = 0.0
            scores = torch.where(stop.unsqueeze(1), forced, scores)
        self._previous = states
        return scores

    def _continues(self, input_ids: torch.Tensor) -> bool:
        """Whether `input_ids` are the previous call's plus one token per row (else a new generate() began)."""
        previous = self._ids
        if previous is None or input_ids.shape != (previous.shape[0], previous.shape[1] + 1):
            return False
        return bool(torch.equal(input_ids[:, :-1], previous))

    def _trial_for(self, b: int, row: RowState) -> Callable[[CueEvent], None] | None:
        if self.trial is None:
            return None
        trial = self.trial
        return lambda cue: trial(b, row, cue)

