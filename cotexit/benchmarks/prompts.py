"""The user message each benchmark problem is posed with.

Owns the prompt templates, by name, and `build_prompt(problem)`, which picks
the template its suite names. The math and GSM8K templates append the
instruction DeepSeek-R1's model card recommends for maths: reason step by
step, final answer in `\\boxed{}`. Chat templates and thinking tags are the
model's business (`cotexit.models`); extracting the boxed answer is
`extraction`'s.

>>> from cotexit.benchmarks.prompt_files import UserPrompt
from cotexit.benchmarks.records import Problem
>>> print(build_prompt(Problem(id="gsm8k/test/0", suite="gsm8k", problem="What is 2+3?", answer="5")))
What is 2+3?
Please reason step by step, and put your final answer within \\boxed{}.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from cotexit.benchmarks.prompt_files import UserPrompt
from cotexit.benchmarks.records import Problem
from cotexit.benchmarks.suites import get_suite

__all__ = ["BOXED_INSTRUCTION", "TEMPLATES", "build_prompt", "register_template"]

BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."

_TEMPLATES: dict[str, str] = {
    "math": "{problem}\n" + BOXED_INSTRUCTION.replace("{}", "{{}}"),
    "gsm8k": "{problem}\n" + BOXED_INSTRUCTION.replace("{}", "{{}}"),
}
TEMPLATES: Mapping[str, str] = MappingProxyType(_TEMPLATES)
"""Template text by name; `{problem}` is replaced by the problem text (`str.format`, so braces are doubled)."""


def register_template(name: str, template: str, *, replace: bool = False) -> None:
    """Add a template; it must contain `{problem}` and format with only that field."""
    if not name or not isinstance(name, str):
        raise ValueError(f"template name must be a non-empty string, got {name!r}")
    if name in _TEMPLATES and _TEMPLATES[name] != template and not replace:
        raise ValueError(f"template {name!r} is already registered; pass replace=True to override it")
    if "{problem}" not in template:
        raise ValueError(f"template {name!r} must contain '{{problem}}', got {template!r}")
    try:
        template.format(problem="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"template {name!r} must format with only {{problem}} (double other braces): {exc}") from exc
    _TEMPLATES[name] = template


def build_prompt(problem: Problem, template: str | None = None) -> str:
    """The user message for `problem`: its suite's template (or the one named `template`) filled in."""
    name = template if template is not None else get_suite(problem.suite).prompt
    if name not in _TEMPLATES:
        raise ValueError(f"unknown prompt template {name!r}; known: {', '.join(sorted(_TEMPLATES))}")
    return _TEMPLATES[name].format(problem=problem.problem.strip())


def user_message(item: Problem | UserPrompt) -> str:
    """The user message: a problem in its suite's template, a prompt from a prompt file verbatim."""
    return item.prompt if isinstance(item, UserPrompt) else build_prompt(item)
