"""How each model family thinks: where thinking starts and ends, and how to force an exit.

Owns `ThinkingFormat` and the registry of known formats. Knows nothing about
models or decoding; the decode loop and the forced-answer trials read these
strings, and `format_for_model` picks one from a model's name or config.
`THINK_TAGS` is the format of a model known only by its tokenizer holding the
think tags as tokens (`cotexit.models.loading.choose_format` checks that).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class ThinkingFormat:
    """Strings that frame a model family's chain of thought.

    `think_start` is what opens thinking (empty for models that think in plain
    text); the prompt may already end with it (`prompt_opens_thinking`). That
    depends on the chat template a model ships, not on its family: `load_model`
    reads it from the rendered template (`cotexit.models.template`), and the
    value here is only the fallback for tokenizers without a template.
    `think_end` closes thinking. `forced_exit` is appended to a thinking prefix
    to close it and open the final answer; the answer is decoded after it.

    >>> fmt = get_format("deepseek-r1")
    >>> fmt.forced_exit.startswith("\\n</think>")
    True
    """

    name: str
    think_start: str
    think_end: str
    forced_exit: str
    prompt_opens_thinking: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("ThinkingFormat.name must be non-empty")
        if not self.forced_exit:
            raise ValueError(f"ThinkingFormat {self.name!r}: forced_exit must be non-empty")
        if bool(self.think_start) != bool(self.think_end):
            raise ValueError(
                f"ThinkingFormat {self.name!r}: think_start and think_end must both be set or both empty, "
                f"got {self.think_start!r} and {self.think_end!r}"
            )

    @property
    def has_tags(self) -> bool:
        return bool(self.think_end)

    def with_overrides(self, **overrides: Any) -> ThinkingFormat:
        """A copy with some fields replaced (from config or CLI); `None` values are ignored."""
        unknown = set(overrides) - set(asdict(self))
        if unknown:
            raise ValueError(f"unknown ThinkingFormat field(s) {sorted(unknown)}; allowed: {sorted(asdict(self))}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ThinkingFormat:
        return cls(**data)


_ANSWER_OPEN = "The final answer is \\boxed{"
THINK_TAGS = "think-tags"

FORMATS: dict[str, ThinkingFormat] = {
    # prompt_opens_thinking below is only the fallback for a tokenizer without a chat template: with one,
    # the rendered template decides (R1-Distill shipped templates ending at "<｜Assistant｜>" and ones ending
    # with "<think>\n"; Qwen3's opens nothing when thinking is on; QwQ's opens "<think>").
    "deepseek-r1": ThinkingFormat(
        "deepseek-r1", "<think>", "</think>", "\n</think>\n\n" + _ANSWER_OPEN, prompt_opens_thinking=True
    ),
    "qwen3": ThinkingFormat("qwen3", "<think>", "</think>", "\n</think>\n\n" + _ANSWER_OPEN),
    "qwq": ThinkingFormat("qwq", "<think>", "</think>", "\n</think>\n\n" + _ANSWER_OPEN, prompt_opens_thinking=True),
    # cotexit's embedded toy reasoning model (see cotexit/toy).
    "toy": ThinkingFormat("toy", "<think>", "</think>", "\n</think>\n" + _ANSWER_OPEN),
    # A model whose tokenizer holds <think> and </think> as tokens while its name and config name no family.
    THINK_TAGS: ThinkingFormat(THINK_TAGS, "<think>", "</think>", "\n</think>\n\n" + _ANSWER_OPEN),
    # Plain instruct models: thinking is everything before the answer.
    "plain": ThinkingFormat("plain", "", "", "\n\n" + _ANSWER_OPEN),
}

# Substrings of a model id / name_or_path -> format name, checked in order.
_NAME_HINTS: tuple[tuple[str, str], ...] = (
    ("deepseek-r1", "deepseek-r1"),
    ("r1-distill", "deepseek-r1"),
    ("qwq", "qwq"),
    ("qwen3", "qwen3"),
    ("cotexit-toy", "toy"),
)


def get_format(name: str) -> ThinkingFormat:
    """The registered format `name`; a clear error naming the known ones otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown thinking format {name!r}; known: {', '.join(sorted(FORMATS))}") from None


def format_for_model(name_or_path: str, *, explicit: str | None = None) -> ThinkingFormat:
    """Pick the thinking format for a model: `explicit` if given, else from its name, else `plain`."""
    if explicit is not None:
        return get_format(explicit)
    lowered = name_or_path.lower()
    for hint, fmt in _NAME_HINTS:
        if hint in lowered:
            return FORMATS[fmt]
    return FORMATS["plain"]
