"""The serve plug-in as vLLM's `vllm.logits_processors` entry point builds it: acting only when it should.

Owns `EntryPoint` (mixed into each runner's serve adapter: `serve_v1`,
`serve_v2`) and `entry_point_acts`. vLLM builds every installed entry point
in every run (`vllm.v1.sample.logits_processor.build_logitsprocs`, and Model
Runner V2's `vllm.v1.worker.gpu.sample.logits_processor.loader`), before and
beside the processors named with `--logits-processors`, without removing
duplicates, and validates every request against each. So the entry point
acts only when `COTEXIT_PROBE` is set and the run names no cotexit processor
(a server naming the plug-in gets it once; cotexit's offline engine, which
names its own, gets no second controller). Otherwise it is inert: it
validates nothing, keeps no rows and hands the logits back unchanged.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from cotexit.engines.vllm.serve import PROBE_ENV


class EntryPoint:
    """What the entry-point adapters share: validation only while `COTEXIT_PROBE` is set."""

    acting = False

    @classmethod
    def validate_params(cls, params: Any) -> None:
        if os.environ.get(PROBE_ENV, "").strip():
            super().validate_params(params)  # type: ignore[misc]


def entry_point_acts(vllm_config: Any) -> bool:
    """Whether the entry point's processor controls this vLLM run: `COTEXIT_PROBE` is set and the run names no
    cotexit processor of its own (vLLM would build both). Naming the entry point's class too is refused."""
    if not os.environ.get(PROBE_ENV, "").strip():
        return False
    named = [_named_class(entry) for entry in getattr(vllm_config.model_config, "logits_processors", None) or ()]
    if any(issubclass(cls, EntryPoint) for cls in named):
        raise ValueError(
            "CotexitServeEntryPoint is loaded through the vllm.logits_processors entry point already: "
            "name cotexit.engines.vllm.serve:CotexitServeProcessor with --logits-processors, or nothing"
        )
    return not any(_is_cotexit_processor(cls) for cls in named)


def _is_cotexit_processor(cls: type) -> bool:
    """A logits processor of cotexit's, on either runner (each holds a controller: `control_class`)."""
    return cls.__module__.startswith("cotexit.") and hasattr(cls, "control_class")


def _named_class(entry: Any) -> type:
    """A `logits_processors` entry as vLLM's loader resolves it (a class, or "module:Class"); `object` when it does
    not resolve (the loader reports that itself)."""
    if isinstance(entry, type):
        return entry
    module, _, qualname = str(entry).partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for attr in qualname.split("."):
            obj = getattr(obj, attr)
    except (ImportError, AttributeError, ValueError):
        return object
    return obj if isinstance(obj, type) else object
