"""What a registered model is, and where the files of fetched ones live.

Owns `ModelEntry` (a name, its thinking format and how to materialise a local
folder) and `cache_dir`. Which entries exist is `builtin`'s; looking names up
is `registry`'s; loading a folder is `loading`'s.

>>> import os; os.environ["COTEXIT_CACHE"] = "/tmp/cotexit-cache"
>>> cache_dir().as_posix()
'/tmp/cotexit-cache'
>>> del os.environ["COTEXIT_CACHE"]
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ModelEntry", "cache_dir"]


@dataclass(frozen=True)
class ModelEntry:
    """A named model: `fetch(progress)` returns a local folder loadable by transformers."""

    name: str
    description: str
    thinking_format: str
    source: str
    fetch: Callable[[Callable[[str], None] | None], Path]
    is_fetched: Callable[[], bool]


def cache_dir() -> Path:
    """Where fetched models live: $COTEXIT_CACHE, else $XDG_CACHE_HOME/cotexit, else ~/.cache/cotexit."""
    explicit = os.environ.get("COTEXIT_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "cotexit"
