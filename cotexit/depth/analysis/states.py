"""The pre-norm output of every decoder block for one teacher-forced sequence.

Owns `block_outputs`, which runs the base model once and keeps the output of each
decoder block through forward hooks. Hooks, not `output_hidden_states`:
transformers 5 returns the *normed* last state as `hidden_states[N]`, while
cotexit's convention (see `cotexit.controller.capture`) is that layer N is
the last block's output before the final norm. Reading the blocks directly
gives that for every layer, whatever the transformers version.

Knows nothing about texts or statistics (`texts`, `metrics`).
"""

from __future__ import annotations

from typing import Any

import torch

from cotexit.models.parts import ExitHead, exit_head


def _hidden(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, (tuple, list)) else output


def block_outputs(model: Any, input_ids: list[int] | torch.Tensor, head: ExitHead | None = None) -> torch.Tensor:
    """(N, T, H) outputs of decoder blocks 1..N (pre-norm) for one sequence, on the model's device."""
    head = head or exit_head(model)
    ids = torch.as_tensor(input_ids, dtype=torch.long).reshape(1, -1)  # (1, T)
    if ids.shape[1] == 0:
        raise ValueError("input_ids must not be empty")
    device = next(model.parameters()).device
    captured: list[torch.Tensor | None] = [None] * head.num_layers

    def hook_for(index: int):
        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            captured[index] = _hidden(output)[0].detach()  # (T, H)

        return hook

    handles = [layer.register_forward_hook(hook_for(i)) for i, layer in enumerate(head.layers)]
    try:
        with torch.inference_mode():
            head.base(input_ids=ids.to(device), use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    missing = [i + 1 for i, h in enumerate(captured) if h is None]
    assert not missing, f"decoder blocks {missing} produced no output"
    return torch.stack(captured)  # type: ignore[arg-type]  # (N, T, H)
