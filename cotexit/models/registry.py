"""Registered model names: what `--model NAME` means.

Owns the `MODELS` registry, which starts with `builtin.BUILTIN_MODELS`, and
the lookups: `register_model`, `get_entry`, `all_entries` and the message for
an unknown name. What an entry is and where fetched files live is `entry`'s
(re-exported here); loading the folder is `cotexit.models.loading`'s job.
Names not registered are treated as local folders or hub ids by the loader.

>>> get_entry("toy").thinking_format
'toy'
"""

from __future__ import annotations

import difflib
import os

from cotexit.models.builtin import BUILTIN_MODELS
from cotexit.models.entry import ModelEntry, cache_dir

__all__ = ["MODELS", "ModelEntry", "all_entries", "cache_dir", "get_entry", "register_model", "unknown_model_message"]

MODELS: dict[str, ModelEntry] = {entry.name: entry for entry in BUILTIN_MODELS}


def register_model(entry: ModelEntry) -> None:
    if entry.name in MODELS:
        raise ValueError(f"model name {entry.name!r} is already registered")
    MODELS[entry.name] = entry


def get_entry(name: str) -> ModelEntry | None:
    return MODELS.get(name)


def unknown_model_message(name: str) -> str:
    close = difflib.get_close_matches(name, list(MODELS), n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    hub = "not in the local hub cache (HF_HUB_OFFLINE is set)" if offline else "not reachable on the model hub"
    return (
        f"unknown model {name!r}: not a registered name ({', '.join(sorted(MODELS))}), "
        f"not a local folder, and {hub}.{hint}"
    )


def all_entries() -> list[ModelEntry]:
    return [MODELS[k] for k in sorted(MODELS)]
