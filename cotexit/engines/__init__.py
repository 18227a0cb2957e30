"""Engines: what produces tokens and hidden states for the controller (`cotexit.controller`).

An engine owns only how a batch is decoded, how the probe's layers are read
from its own forward pass, and how a forced text is fed after an exit. Cue
watching, policies and exit semantics are the controller's, the same for all.

- `loop`: cotexit's own batched decode loop over a transformers cache (`--backend hf`); cuts a row's
  thinking in place by masking cache columns, and runs forced-answer trials on a branch of its cache.
- `generate`: an unmodified transformers `model.generate()` with a logits processor (`--backend generate`);
  it cannot take tokens back, so exited rows stop and their answer is decoded afterwards from the cut prefix.
- `tap`: forward hooks on just the probe's layers, installed once and shared by both.
"""
