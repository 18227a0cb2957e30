"""The embedded toy reasoning model: traces, tokenizer, training, and the export of its weights.

Owns everything needed to rebuild `TOY_MODEL_DIR` from scratch
(`cotexit toy train --out DIR`): the chain-of-thought writer (`traces`), the
tokenizer and chat template (`tokenizer`), the architecture (`model`), the
training data (`data`), the early-exit training loop (`train`), quick checks
(`evaluate`) and the folder writer (`export`). The problems it learns from are
the `arith` benchmark's (`cotexit.benchmarks.arith`, `arith_splits`); the
decode loop belongs to other packages.

Shipped weights: `weights/` is a standard Hugging Face folder (Llama,
float32, `cotexit_thinking_format: toy` in config.json) with `card.json`
recording the training run and its measured metrics.
"""

from __future__ import annotations

from pathlib import Path

TOY_MODEL_DIR = Path(__file__).resolve().parent / "weights"

__all__ = ["TOY_MODEL_DIR"]
