"""What a model's chat template does to thinking: the prompt text, and whether it opens `<think>`.

Owns `chat_prompt` (one user message through the chat template),
`inspect_chat_template` (renders a sample prompt and reads its end) and
`fit_format_to_template` (sets `ThinkingFormat.prompt_opens_thinking` from
that). Whether the prompt already opens thinking is a property of the
template a model ships, not of its family: DeepSeek-R1-Distill released an
older template whose prompt ends at `<｜Assistant｜>` (the model writes
`<think>` itself) and a newer one ending with `<think>\\n`; Qwen3 opens
nothing and thinks when `enable_thinking` is on; QwQ's template opens
`<think>`. Knows nothing about weights or decoding; loading is
`cotexit.models.loading`'s job, the per-row phase `cotexit.controller.rows`'.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from cotexit.models.thinking import ThinkingFormat

log = logging.getLogger(__name__)

SAMPLE_USER_TEXT = "What is 2 + 3?"
"""The user message rendered to see where a template leaves the assistant's turn."""


def chat_prompt(tokenizer: Any, user_text: str) -> str:
    """The full prompt text for one user message, through the model's chat template when it has one.

    `enable_thinking=True` reaches the template (Qwen3 then leaves thinking to
    the model instead of writing an empty think block); templates that do not
    use the variable ignore it. Without a template: `Question: ...\\nAnswer:`.
    """
    if has_chat_template(tokenizer):
        messages = [{"role": "user", "content": user_text}]
        return tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False, enable_thinking=True
        )
    return f"Question: {user_text}\nAnswer:"


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


@dataclass(frozen=True)
class ChatTemplateInfo:
    """Where a rendered sample prompt leaves thinking.

    `prompt` is `chat_prompt` of the sample message (the plain fallback when
    `has_template` is false). `opens_thinking`: the prompt ends with the
    format's think start, trailing whitespace ignored, so the model's first
    token is already thinking. `closes_thinking`: it ends with the think end
    (a template that switched thinking off by writing an empty think block).
    Both are false for formats without tags.
    """

    has_template: bool
    prompt: str
    opens_thinking: bool
    closes_thinking: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def inspect_chat_template(
    tokenizer: Any, fmt: ThinkingFormat, *, user_text: str = SAMPLE_USER_TEXT
) -> ChatTemplateInfo:
    """Render `user_text` through the chat template and read where it leaves thinking.

    Raises `ValueError` when the template exists but cannot render a plain
    user message.

    >>> from types import SimpleNamespace
    >>> from cotexit.models.thinking import get_format
    >>> new_r1 = SimpleNamespace(chat_template="x", apply_chat_template=lambda m, **kw: "<|user|>hi<|assistant|><think>\\n")
    >>> inspect_chat_template(new_r1, get_format("qwen3")).opens_thinking
    True
    """
    from jinja2 import TemplateError

    try:
        prompt = chat_prompt(tokenizer, user_text)
    except (TemplateError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"the chat template cannot render a single user message: {exc}") from exc
    end = prompt.rstrip()
    tagged = fmt.has_tags
    return ChatTemplateInfo(
        has_template=has_chat_template(tokenizer),
        prompt=prompt,
        opens_thinking=tagged and end.endswith(fmt.think_start),
        closes_thinking=tagged and end.endswith(fmt.think_end),
    )


def fit_format_to_template(fmt: ThinkingFormat, tokenizer: Any) -> ThinkingFormat:
    """`fmt` with `prompt_opens_thinking` read from the tokenizer's rendered chat template.

    Formats without tags, tokenizers without a chat template, and templates
    that fail to render (logged as a warning) keep `fmt`'s own value, which
    is then only a fallback.

    >>> from types import SimpleNamespace
    >>> from cotexit.models.thinking import get_format
    >>> old_r1 = SimpleNamespace(chat_template="x", apply_chat_template=lambda m, **kw: "<｜User｜>hi<｜Assistant｜>")
    >>> fit_format_to_template(get_format("deepseek-r1"), old_r1).prompt_opens_thinking
    False
    """
    if not fmt.has_tags or not has_chat_template(tokenizer):
        return fmt
    try:
        info = inspect_chat_template(tokenizer, fmt)
    except ValueError as exc:
        log.warning("format %s: keeping prompt_opens_thinking=%s: %s", fmt.name, fmt.prompt_opens_thinking, exc)
        return fmt
    return fmt.with_overrides(prompt_opens_thinking=info.opens_thinking)
