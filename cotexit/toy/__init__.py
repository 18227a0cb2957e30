"""The embedded toy reasoning model: arith suite, traces, tokenizer, training, shipped weights.

Owns everything needed to rebuild `TOY_MODEL_DIR` from scratch
(`cotexit toy train --out DIR`): the problem generator (`arith`), the split
logic (`suite`), the chain-of-thought writer (`traces`), the tokenizer and
chat template (`tokenizer`), the architecture (`model`), the training data
(`data`), the early-exit training loop (`train`), quick checks (`evaluate`)
and the folder writer (`export`). Registration of the suite with the
benchmark registry and the decode loop belong to other packages.

Shipped weights: `weights/` is a standard Hugging Face folder (Llama,
float32, `cotexit_thinking_format: toy` in config.json) with `card.json`
recording the training run and its measured metrics.
"""

from __future__ import annotations

from pathlib import Path

TOY_MODEL_DIR = Path(__file__).resolve().parent / "weights"

__all__ = ["TOY_MODEL_DIR"]
