"""What a logits processor reads as this step's states: the probe layers at each request's newest token.

Owns the three sources a processor's `states` can be, each with
`take(rows) -> {layer: (rows, H)}` (empty: no states this step), and the row
locators of the two model runners:

- `ModelStates`: the capture model's buffer (`cotexit.engines.vllm.
  model_capture`, filled inside vLLM's forward, compiled or eager), read at
  the flattened token row of each request's newest token. Logits row i is
  batch position i on both runners, and that request's tokens end at
  `query_start_loc[i + 1] - 1`: the V1 runner keeps `query_start_loc` on the
  host (`v1_rows`), Model Runner V2 on the device (`v2_rows`). The model is
  looked up on the first read (a processor is built before its runner's
  model is loaded).
- `StepStates`: states handed over per forward (tests drive processors with it).
- `NO_STATES`: policies that read no states.

Layer numbers are `cotexit.controller.capture`'s: 0 the embedding, N the
final norm's output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch


class StatesSource(Protocol):
    def take(self, rows: int) -> dict[int, torch.Tensor]: ...


class StepStates:
    """States handed over for each forward: `states` {layer: (rows, H)}, `forwards` counting them; a read
    after no new forward is empty."""

    def __init__(self) -> None:
        self.states: dict[int, torch.Tensor] = {}
        self.forwards = 0
        self._read = 0

    def take(self, rows: int) -> dict[int, torch.Tensor]:
        fresh, self._read = self.forwards != self._read, self.forwards
        return self.states if fresh else {}


class _NoStates:
    def take(self, rows: int) -> dict[int, torch.Tensor]:
        return {}


NO_STATES = _NoStates()


class ModelStates:
    """The probe's `layers` out of the capture model `model()` returns, at the rows `last_rows(n)` names."""

    def __init__(self, model: Callable[[], Any], layers: Sequence[int], last_rows: Callable[[int, torch.device], torch.Tensor]) -> None:
        self._model_of = model
        self.layers = tuple(layers)
        self.last_rows = last_rows
        self.model: Any = None

    def take(self, rows: int) -> dict[int, torch.Tensor]:
        if self.model is None:
            from cotexit.engines.vllm.model_capture import capture_model

            self.model = capture_model(self._model_of(), self.layers)
        states = self.model.states_at(self.last_rows(rows, self.model.captured.device))
        return states if len(states) == len(self.layers) else {layer: states[layer] for layer in self.layers}


def v1_rows(runner: Any) -> Callable[[int, torch.device], torch.Tensor]:
    """The V1 runner's flattened row of each batch position's newest token, from its host-side offsets."""

    def rows(n: int, device: torch.device) -> torch.Tensor:
        return torch.from_numpy(runner.query_start_loc.np[1 : n + 1] - 1).to(device)  # int32 indexes as well

    return rows


def v2_rows(runner: Any) -> Callable[[int, torch.device], torch.Tensor]:
    """Model Runner V2's flattened row of each batch position's newest token, from its device-side offsets."""

    def rows(n: int, device: torch.device) -> torch.Tensor:
        return runner.input_buffers.query_start_loc[1 : n + 1].long() - 1

    return rows
