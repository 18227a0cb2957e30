"""Models: loading, the registry of named models, per-family thinking formats, and what chat templates do.

Also the shipped toy weights (`weights/toy`, see `builtin`) and FLOP estimates
from a model's shapes (`flops`). Checking a tokenizer against the controller
(think tags, cues, forced exit) is `cotexit.controller.doctor`'s.
"""

from cotexit.models.entry import cache_dir
from cotexit.models.loading import LoadedModel, choose_format, load_model, resolve_model
from cotexit.models.registry import all_entries
from cotexit.models.template import ChatTemplateInfo, chat_prompt, fit_format_to_template, inspect_chat_template
from cotexit.models.thinking import FORMATS, ThinkingFormat, format_for_model, get_format

__all__ = [
    "FORMATS",
    "ChatTemplateInfo",
    "LoadedModel",
    "ThinkingFormat",
    "all_entries",
    "cache_dir",
    "chat_prompt",
    "choose_format",
    "fit_format_to_template",
    "format_for_model",
    "get_format",
    "inspect_chat_template",
    "load_model",
    "resolve_model",
]
