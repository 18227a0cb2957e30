"""Reading the probe's layers out of vLLM's own forward: hooks on the worker's decoder layers.

Owns `StepStates` (one per process: `STEP`), `install_capture` and
`layer_module`. vLLM returns no intermediate hidden states, but in eager
mode (`enforce_eager=True`; hooks do not fire inside CUDA graphs or
`torch.compile`) forward hooks on the model's modules run in the worker,
during the step's forward and before the step's logits processors. A decoder
layer of vLLM's Llama/Qwen2 models returns `(hidden, residual)` over the
flattened tokens of every scheduled request; the residual stream after block
l, which transformers reports as `hidden_states[l]`, is their sum (measured
equal to 3e-5 in float32 on the toy model). Layer N is the final norm's
output, layer 0 the embedding's, as in `cotexit.controller.capture`.
Request row i's newest token is flattened row `query_start_loc[i+1] - 1`, and
its logits row, the logits processor's row i, is the model runner's
`input_batch` row i. So after each forward `STEP.states` holds
{layer: (num_reqs, H)} for the processor to read by row.
"""

from __future__ import annotations

from typing import Any

import torch


class StepStates:
    """The probe layers' states at each scheduled request's last token, from the latest forward."""

    def __init__(self) -> None:
        self.states: dict[int, torch.Tensor] = {}  # {layer: (num_reqs, H)} float32
        self.forwards = 0  # forwards seen; a processor knows whether this step's are new
        self.last: torch.Tensor | None = None  # (num_reqs,) this forward's flattened row of each request's newest token

    def clear(self) -> None:
        self.states = {}


STEP = StepStates()


def layer_module(model: Any, layer: int) -> tuple[Any, str]:
    """The module whose output is cotexit layer `layer` in a vLLM decoder model, and how to read it."""
    base = model.model
    n = len(base.layers)
    if not 0 <= layer <= n:
        raise ValueError(f"layer {layer} is out of range for a model with {n} layers")
    if layer == 0:
        return base.embed_tokens, "tensor"
    if layer == n:
        return base.norm, "first"  # the final norm returns (normed, residual) or the normed tensor
    return base.layers[layer - 1], "sum"  # (hidden, residual) -> hidden + residual


def install_capture(runner: Any, layers: tuple[int, ...], step: StepStates = STEP) -> list[Any]:
    """Hook `layers` of `runner`'s model so that every forward leaves their last-token states in `step`.

    Returns the hook handles (`.remove()` takes them off).
    """
    model = runner.get_model()
    handles = []
    for layer in layers:
        module, kind = layer_module(model, layer)
        first = layer == min(layers)  # the first of them to fire in a forward starts the step's states
        handles.append(module.register_forward_hook(_hook(runner, layer, kind, step, first=first)))
    return handles


def _hook(runner: Any, layer: int, kind: str, step: StepStates, *, first: bool):
    # Few tensor operations per call: each is a dispatch (and on CPU an OpenMP region), paid every forward.
    def hook(_module: Any, _inputs: Any, output: Any) -> None:
        if first:
            n = runner.input_batch.num_reqs
            step.last = torch.from_numpy(runner.query_start_loc.np[1 : n + 1] - 1).long().to(_device(output))
            step.states = {}
            step.forwards += 1
        last = step.last
        if kind == "sum":
            hidden, residual = output
            # (num_reqs, H), a new tensor: the next norm may work on the outputs in place
            state = torch.index_select(hidden, 0, last).add_(torch.index_select(residual, 0, last))
        else:
            state = torch.index_select(output[0] if isinstance(output, tuple) else output, 0, last)
        step.states[layer] = state if state.dtype == torch.float32 else state.float()

    return hook


def _device(output: Any) -> torch.device:
    return (output[0] if isinstance(output, tuple) else output).device
