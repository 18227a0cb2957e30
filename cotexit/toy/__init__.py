"""The embedded toy reasoning model: traces, tokenizer, training, and the export of its weights.

Owns everything needed to rebuild `TOY_MODEL_DIR` from scratch
(`cotexit toy train --out DIR`): the chain-of-thought writer (`traces`), the
tokenizer and chat template (`tokenizer`), the architecture (`model`), the
training data (`data`), the early-exit training loop (`train`), quick checks
(`evaluate`) and the folder writer (`export`). The problems it learns from are
the `arith` benchmark's (`cotexit.benchmarks.arith`, `arith_splits`); the
decode loop belongs to other packages.

The shipped weights are model data: `TOY_MODEL_DIR` is
`cotexit/models/weights/toy`, registered as `toy` by `cotexit.models.builtin`
(re-exported here).
"""

from __future__ import annotations

from cotexit.models.builtin import TOY_MODEL_DIR

__all__ = ["TOY_MODEL_DIR"]
