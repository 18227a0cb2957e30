"""Registered model names: what `--model NAME` means, and where its files come from.

Owns `ModelEntry`, the `MODELS` registry and `cache_dir`. An entry knows its
thinking format and how to materialise a local folder (`fetch`); loading the
folder is `cotexit.models.loading`'s job. Names not registered are treated as
local folders or hub ids by the loader.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelEntry:
    """A named model: `fetch(progress)` returns a local folder loadable by transformers."""

    name: str
    description: str
    thinking_format: str
    source: str
    fetch: Callable[[Callable[[str], None] | None], Path]
    is_fetched: Callable[[], bool]


MODELS: dict[str, ModelEntry] = {}


def register_model(entry: ModelEntry) -> None:
    if entry.name in MODELS:
        raise ValueError(f"model name {entry.name!r} is already registered")
    MODELS[entry.name] = entry


def get_entry(name: str) -> ModelEntry | None:
    _ensure_builtins()
    return MODELS.get(name)


def unknown_model_message(name: str) -> str:
    _ensure_builtins()
    close = difflib.get_close_matches(name, list(MODELS), n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    hub = "not in the local hub cache (HF_HUB_OFFLINE is set)" if offline else "not reachable on the model hub"
    return (
        f"unknown model {name!r}: not a registered name ({', '.join(sorted(MODELS))}), "
        f"not a local folder, and {hub}.{hint}"
    )


def all_entries() -> list[ModelEntry]:
    _ensure_builtins()
    return [MODELS[k] for k in sorted(MODELS)]


def cache_dir() -> Path:
    """Where fetched models live: $COTEXIT_CACHE, else $XDG_CACHE_HOME/cotexit, else ~/.cache/cotexit."""
    explicit = os.environ.get("COTEXIT_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "cotexit"


def _ensure_builtins() -> None:
    if not MODELS:
        from cotexit.models import builtin  # noqa: F401  (registers on import)
