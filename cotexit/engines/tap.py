"""Reading a few layers' hidden states out of a forward pass with forward hooks.

Owns `layer_modules` (which module outputs layer l, in the numbering of
`cotexit.controller.capture`), `LayerTap` and `tapped`. Registering and
removing hooks at every decode step costs about 2% of a small model's
step, far more than calling them, so a decode session installs its tap
once (`tapped`) and the step arms it around its own forward only. While
installed and not armed, the hooks return at once: other forwards of the
same model (forced-answer trials, another decoder) pass through them
untouched. Sessions on one model share its tap, so their forwards must not
run at the same time from several threads.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from cotexit.models.parts import exit_head

# model -> {layers: installed tap}
_TAPS: weakref.WeakKeyDictionary[Any, dict[tuple[int, ...], LayerTap]] = weakref.WeakKeyDictionary()


def layer_modules(model: Any, layers: Sequence[int]) -> list[Any]:
    """The module whose output is each layer's state: the embeddings (0), decoder block l, the final norm (N).

    Layer N is read after the final norm, as transformers reports `hidden_states[N]`.
    """
    parts = exit_head(model)
    n = parts.num_layers
    embed = parts.base.get_input_embeddings()
    return [embed if layer == 0 else parts.norm if layer == n else parts.layers[layer - 1] for layer in layers]


class LayerTap:
    """Hooks on the modules of `layers`; while armed they keep each one's state at the last position."""

    def __init__(self, model: Any, layers: tuple[int, ...]) -> None:
        self.layers = layers
        self.modules = layer_modules(model, layers)
        self.states: dict[int, torch.Tensor] | None = None  # armed when not None
        self.users = 0
        self._handles: list[Any] = []

    def install(self) -> None:
        self._handles = [module.register_forward_hook(self._hook(layer)) for layer, module in zip(self.layers, self.modules)]

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, layer: int):
        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            if self.states is not None:
                self.states[layer] = (output[0] if isinstance(output, tuple) else output)[:, -1, :]  # (B, H)

        return hook

    def arm(self) -> dict[int, torch.Tensor]:
        """Start recording; returns the {layer: (B, H)} the hooks fill until `disarm`."""
        self.states = {}
        return self.states

    def disarm(self) -> None:
        self.states = None


@contextmanager
def tapped(model: Any, layers: tuple[int, ...]) -> Iterator[LayerTap]:
    """Keep a tap on `model` for `layers` installed during the block (shared by nested users)."""
    taps = _TAPS.setdefault(model, {})
    tap = taps.get(layers)
    if tap is None:
        tap = taps[layers] = LayerTap(model, layers)
        tap.install()
    tap.users += 1
    try:
        yield tap
    finally:
        tap.users -= 1
        if tap.users == 0:
            tap.remove()
            del taps[layers]


def installed_tap(model: Any, layers: tuple[int, ...]) -> LayerTap | None:
    """The tap `tapped` installed on `model` for exactly `layers`, if one is."""
    taps = _TAPS.get(model)
    return taps.get(layers) if taps else None
