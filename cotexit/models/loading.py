"""Loading a causal LM with its tokenizer, chat template and thinking format.

Owns `LoadedModel`, `load_model`, `resolve_model` (what `--model` names)
and `choose_format`. `--model` is, in this order, a registered name (fetched
on first use), an existing local folder, or a hub id when it looks like one
(`owner/name`); any other name is refused at once, with close registered
names. A hub id is not asked of the hub when `cotexit.hub.offline_reason`
gives a reason (an offline variable, no network): it then loads from the
local hub cache or is refused at once. The model's thinking format comes from, in
order: an explicit override, the registry entry, a `cotexit_thinking_format`
key in the model's config, a family named in its path or in the
`_name_or_path` its config.json records (that family's format, with its own
forced-exit text), and otherwise its tokenizer: one that holds `<think>` and
`</think>` as added tokens (matched whole, as reasoning models' tokenizers
hold them) gets the generic tagged format `think-tags`, any other `plain`.
Whether the prompt already opens thinking is then read from the rendered
chat template (`cotexit.models.template`, which also owns `chat_prompt`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cotexit import hub
from cotexit.models.registry import ModelEntry, get_entry, looks_like_hub_id, unknown_model_message
from cotexit.models.template import chat_prompt, fit_format_to_template
from cotexit.models.thinking import THINK_TAGS, ThinkingFormat, format_for_model, get_format

__all__ = ["LoadedModel", "chat_prompt", "choose_format", "load_model", "loading_error", "resolve_model"]

log = logging.getLogger(__name__)

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")


@dataclass
class LoadedModel:
    name: str  # what the user asked for
    path: str  # local folder or hub id actually loaded
    model: Any
    tokenizer: Any
    fmt: ThinkingFormat

    @property
    def num_layers(self) -> int:
        return int(self.model.config.get_text_config().num_hidden_layers)

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this model for artifacts: architecture hash, sizes, tokenizer hash.

        Not the dtype it computes in: the config's `dtype` entry (the loaded dtype) is hashed as float32, the dtype
        every artifact so far was made in, so that one model run in another dtype is the same model. Whether a
        probe's certificate covers that dtype is a setting (`cotexit.calibration.shift.settings_coverage`)."""
        config = self.model.config.to_dict()
        keep = {k: config.get(k) for k in sorted(config) if not k.startswith("_") and k not in ("transformers_version",)}
        for key in ("dtype", "torch_dtype"):
            if keep.get(key) is not None:
                keep[key] = "float32"
        vocab = sorted(self.tokenizer.get_vocab().items())
        return {
            "model": self.name,
            "config_sha256": hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16],
            "num_layers": self.num_layers,
            "hidden_size": int(self.model.config.get_text_config().hidden_size),
            "tokenizer_sha256": hashlib.sha256(json.dumps(vocab).encode()).hexdigest()[:16],
        }


def load_model(
    spec: str,
    *,
    thinking_format: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    progress: Callable[[str], None] | None = None,
    weights: bool = True,
) -> LoadedModel:
    """Load `spec` (registered name, folder or hub id) ready for any engine (`cotexit.engines`).

    `weights=False` builds the model on torch's meta device from its config (no memory, no weights read):
    enough for an engine that loads the weights itself (vLLM) and needs only the config, the generation
    config and the tokenizer here.

    >>> # lm = load_model("smollm2-135m"); lm.fmt.name -> 'plain'
    """
    import torch
    from huggingface_hub.errors import EntryNotFoundError
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not spec:
        raise ValueError("--model must not be empty")
    torch_dtype = _dtype(dtype)
    if device:
        _check_device(device)
    path, entry = resolve_model(spec, progress)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype) if weights else _config_only(path, torch_dtype)
    except (OSError, ValueError, EntryNotFoundError) as exc:  # hub errors subclass OSError or ValueError
        raise loading_error(spec, path, entry, exc) from exc
    model.eval()
    if weights and device:
        model.to(device)
    elif weights and torch.cuda.is_available():
        model.to("cuda")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    fmt = choose_format(path, model.config, entry, thinking_format, tokenizer=tokenizer)
    fmt = fit_format_to_template(fmt, tokenizer)
    log.info(
        "loaded %s from %s (%d layers, thinking format %s, prompt opens thinking: %s)",
        spec, path, model.config.num_hidden_layers, fmt.name, fmt.prompt_opens_thinking,
    )
    return LoadedModel(name=spec, path=path, model=model, tokenizer=tokenizer, fmt=fmt)


def resolve_model(spec: str, progress: Callable[[str], None] | None = None) -> tuple[str, ModelEntry | None]:
    """The local folder or hub id `spec` names, and its registry entry if it is a registered name.

    In order: a registered name (fetched first if needed), an existing local
    folder, a hub id (`owner/name`; offline, its folder in the local hub
    cache). Anything else is `ValueError` at once. A local folder must hold a
    config.json and tokenizer files (weights are the loader's concern).
    """
    if not spec:
        raise ValueError("--model must not be empty")
    entry = get_entry(spec)
    if entry is not None:
        if not entry.is_fetched() and progress is not None:
            progress(f"model {spec!r} is not in the cache yet; fetching it")
        path = str(entry.fetch(progress))
    elif Path(spec).expanduser().exists():
        path = spec
    elif looks_like_hub_id(spec):
        return _hub_model(spec), None
    else:
        raise ValueError(unknown_model_message(spec))
    local = Path(path).expanduser()
    if local.exists():
        if not local.is_dir():
            raise ValueError(f"--model {spec!r} is a file; give a model folder, a registered name or a hub id")
        if not (local / "config.json").exists():
            raise ValueError(f"model folder {local} has no config.json")
        if not any((local / f).exists() for f in _TOKENIZER_FILES):
            raise ValueError(f"model folder {local} has no tokenizer (none of {', '.join(_TOKENIZER_FILES)})")
        path = str(local)
    return path, entry


def _hub_model(repo_id: str) -> str:
    """`repo_id`, for transformers to fetch; offline, its folder in the local hub cache, or `ValueError` at once."""
    reason = hub.offline_reason(hub.MODEL_VARIABLES)
    if reason is None:
        return repo_id
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, "config.json")
    if not isinstance(cached, str):
        raise ValueError(unknown_model_message(repo_id, f"not in the local hub cache (the hub is not asked: {reason})"))
    log.info("%s: loading from the local hub cache (%s)", repo_id, reason)
    return str(Path(cached).parent)


def choose_format(
    path: str, config: Any, entry: ModelEntry | None, explicit: str | None = None, *, tokenizer: Any = None
) -> ThinkingFormat:
    """The registered thinking format for a model, in the order the module docstring gives.

    `tokenizer` is the model's (loaded from `path` when needed and not given).
    The result's `prompt_opens_thinking` is the registry's fallback; pass it
    through `fit_format_to_template` with the model's tokenizer.

    >>> from types import SimpleNamespace
    >>> tagged = SimpleNamespace(get_added_vocab=lambda: {"<think>": 7, "</think>": 8, "<pad>": 0})
    >>> choose_format("models/m", SimpleNamespace(), None, tokenizer=tagged).name
    'think-tags'
    """
    name = explicit or (entry.thinking_format if entry else None)
    name = name or getattr(config, "cotexit_thinking_format", None)
    if name:
        return get_format(name)
    for hint in (path, _recorded_name(path)):
        fmt = format_for_model(hint)
        if fmt.has_tags:
            return fmt
    tagged = get_format(THINK_TAGS)
    if tokenizer is None:
        tokenizer = _tokenizer_or_none(path)
    if tokenizer is not None and {tagged.think_start, tagged.think_end} <= set(tokenizer.get_added_vocab()):
        return tagged
    return get_format("plain")


def _tokenizer_or_none(path: str) -> Any:
    from huggingface_hub.errors import EntryNotFoundError
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, EntryNotFoundError) as exc:
        log.warning("cannot read the tokenizer of %s to look for think tags: %s", path, exc)
        return None


def _recorded_name(path: str) -> str:
    """The `_name_or_path` a local config.json records (transformers replaces it with the folder on load)."""
    config = Path(path).expanduser() / "config.json"
    if not config.is_file():
        return ""
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return str(data.get("_name_or_path") or "") if isinstance(data, dict) else ""


def loading_error(spec: str, path: str, entry: ModelEntry | None, exc: Exception) -> ValueError:
    """The ValueError for a model that transformers could not load: unknown, or broken with its first line."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if not Path(path).expanduser().exists() and entry is None:
        return ValueError(unknown_model_message(spec, f"not loadable from the model hub ({first_line})"))
    return ValueError(f"could not load model {spec!r} from {path}: {first_line}")


def _config_only(path: str, torch_dtype: Any) -> Any:
    """The model built from its config on the meta device, with its generation config (EOS ids) when it has one."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path), dtype=torch_dtype)
    try:
        model.generation_config = GenerationConfig.from_pretrained(path)
    except OSError:
        pass  # no generation_config.json: the one from_config made
    return model


def _check_device(name: str) -> None:
    import torch

    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"--device {name!r} is not a torch device, e.g. cpu, cuda, cuda:0") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name!r}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"--device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def dtype_name(torch_dtype: Any) -> str:
    """A torch dtype as `--dtype` names it: torch.float32 -> 'float32'."""
    return str(torch_dtype).removeprefix("torch.")


def _dtype(name: str | None) -> Any:
    import torch

    if name is None:
        return torch.float32 if not torch.cuda.is_available() else torch.bfloat16
    allowed = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if name not in allowed:
        raise ValueError(f"dtype must be one of {', '.join(allowed)}, got {name!r}")
    return allowed[name]
