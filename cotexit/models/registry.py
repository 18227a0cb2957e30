"""Registered model names: what `--model NAME` means.

Owns the `MODELS` registry, which starts with `builtin.BUILTIN_MODELS`, and
the lookups: `register_model`, `get_entry`, `all_entries`, `looks_like_hub_id`
and the message for an unknown name. What an entry is and where fetched files
live is `entry`'s (re-exported here); loading the folder is
`cotexit.models.loading`'s job. A name not registered is a local folder when
one exists, a hub id when it looks like one (`owner/name`), and otherwise
unknown.

>>> get_entry("toy").thinking_format
'toy'
"""

from __future__ import annotations

import difflib
import re

from cotexit.models.builtin import BUILTIN_MODELS
from cotexit.models.entry import ModelEntry, cache_dir

__all__ = [
    "MODELS",
    "ModelEntry",
    "all_entries",
    "cache_dir",
    "get_entry",
    "looks_like_hub_id",
    "register_model",
    "unknown_model_message",
]

MODELS: dict[str, ModelEntry] = {entry.name: entry for entry in BUILTIN_MODELS}


def register_model(entry: ModelEntry) -> None:
    if entry.name in MODELS:
        raise ValueError(f"model name {entry.name!r} is already registered")
    MODELS[entry.name] = entry


def get_entry(name: str) -> ModelEntry | None:
    return MODELS.get(name)


_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]*[A-Za-z0-9_]$")


def looks_like_hub_id(name: str) -> bool:
    """Whether `name` has the shape of a hub model id, `owner/name` (one slash, no `..` or `--`).

    >>> looks_like_hub_id("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"), looks_like_hub_id("toyy")
    (True, False)
    """
    return bool(_HUB_ID.match(name)) and ".." not in name and "--" not in name and len(name) <= 96


def unknown_model_message(name: str, hub: str | None = None) -> str:
    """The one line refusing `name`: what it is not, with close registered names.

    `hub` says what became of it on the hub (e.g. 'not in the local hub cache
    (HF_HUB_OFFLINE is set)'); by default, 'not found on the model hub' for a
    name shaped like a hub id and 'not a hub id (owner/name)' otherwise.
    """
    close = difflib.get_close_matches(name, list(MODELS), n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    if hub is None:
        hub = "not found on the model hub" if looks_like_hub_id(name) else "not a hub id (those look like owner/name)"
    return (
        f"unknown model {name!r}: not a registered name ({', '.join(sorted(MODELS))}), "
        f"not a local folder, and {hub}.{hint}"
    )


def all_entries() -> list[ModelEntry]:
    return [MODELS[k] for k in sorted(MODELS)]
