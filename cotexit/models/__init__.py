"""Models: loading, the registry of named models, and per-family thinking formats."""

from cotexit.models.loading import LoadedModel, chat_prompt, load_model
from cotexit.models.registry import all_entries, cache_dir
from cotexit.models.thinking import FORMATS, ThinkingFormat, format_for_model, get_format

__all__ = [
    "FORMATS",
    "LoadedModel",
    "ThinkingFormat",
    "all_entries",
    "cache_dir",
    "chat_prompt",
    "format_for_model",
    "get_format",
    "load_model",
]
