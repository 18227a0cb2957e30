"""Pulling a final answer out of free text: a model's response or a reference solution.

Owns the extraction chain: the last `\\boxed{...}` (or `\\fbox{...}`, or
`\\boxed 5`), then GSM8K's `#### N`, then "the answer is X", then the last
number. Every function is pure and returns `None` when it finds nothing.
Deciding whether an extracted answer is right is `grading`'s job; which part
of a response to read (the text after `</think>`, say) is the caller's.

>>> extract_answer("so x = 2, and the total is $\\\\boxed{\\\\frac{1}{2}}$.")
'\\\\frac{1}{2}'
>>> extract_answer("She pays 3 + 15 = 18 dollars.\\n#### 18")
'18'
"""

from __future__ import annotations

import re

__all__ = ["answer_is", "extract_answer", "gsm8k_final", "last_boxed", "last_number"]

_BOX_START = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")

# A number: optional sign, thousands groups or plain digits, optional decimals; or a bare ".5".
_NUMBER = r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+"
_NUMBER_RE = re.compile(rf"(?<![\w.])(?:{_NUMBER})")
_GSM8K_RE = re.compile(rf"####\s*\$?\s*({_NUMBER})")
_ANSWER_IS_RE = re.compile(r"answer\s+is\s*:?\s*", re.IGNORECASE)
_INLINE_MATH_RE = re.compile(r"^\$+(.+?)\$+")


def _braced(text: str, start: int) -> tuple[str, int] | None:
    """The content of the brace group opening at `text[start] == "{"`, and the index after it.

    Escaped braces (`\\{`, `\\}`) do not count. `None` when the group never closes.
    """
    assert text[start] == "{"
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
        i += 1
    return None


def _box_content(text: str, command_end: int) -> str | None:
    """What a `\\boxed` command ending at `command_end` holds: a brace group or, after a space, one token."""
    i = command_end
    while i < len(text) and text[i] in " \t":
        i += 1
    if i < len(text) and text[i] == "{":
        group = _braced(text, i)
        return None if group is None else group[0].strip()
    if i > command_end:  # `\boxed 5`: the token up to the next `$` or line end
        token = re.split(r"[$\n]", text[i:], maxsplit=1)[0].strip()
        return token or None
    return None


def last_boxed(text: str) -> str | None:
    """The content of the last complete `\\boxed{...}` or `\\fbox{...}` in `text`, braces matched.

    A box that never closes (a truncated response) is skipped in favour of the
    one before it. `\\boxed 5` (no braces) yields the token after the space.

    >>> last_boxed("\\\\boxed{1} then \\\\boxed{\\\\frac{a}{b}}")
    '\\\\frac{a}{b}'
    >>> last_boxed("no box here") is None
    True
    """
    if not isinstance(text, str):
        return None
    for match in reversed(list(_BOX_START.finditer(text))):
        content = _box_content(text, match.end())
        if content:
            return content
    return None


def gsm8k_final(text: str) -> str | None:
    """The number after the last `####` (GSM8K's answer marker), thousands commas removed.

    >>> gsm8k_final("3 + 4 = 7 hours.\\n#### 1,200")
    '1200'
    """
    if not isinstance(text, str):
        return None
    matches = _GSM8K_RE.findall(text)
    return matches[-1].replace(",", "") if matches else None


def last_number(text: str) -> str | None:
    """The last number written in `text`, thousands commas removed; `None` when there is none.

    >>> last_number("It costs $1,234.50, or 2 payments.")
    '2'
    """
    if not isinstance(text, str):
        return None
    matches = _NUMBER_RE.findall(text)
    return matches[-1].replace(",", "") if matches else None


def answer_is(text: str) -> str | None:
    """What follows the last "answer is" in `text`, up to the line end, without `$` or a final period.

    >>> answer_is("Thus the answer is $\\\\frac{3}{4}$.")
    '\\\\frac{3}{4}'
    """
    if not isinstance(text, str):
        return None
    matches = list(_ANSWER_IS_RE.finditer(text))
    if not matches:
        return None
    rest = text[matches[-1].end() :].split("\n", 1)[0].strip()
    inline = _INLINE_MATH_RE.match(rest)
    if inline:
        rest = inline.group(1)
    rest = rest.strip().rstrip(".").strip().strip("$").strip()
    return rest or None


def extract_answer(text: str) -> str | None:
    """The final answer in `text`: boxed, else `#### N`, else "answer is X", else the last number."""
    for extractor in (last_boxed, gsm8k_final, answer_is, last_number):
        answer = extractor(text)
        if answer is not None:
            return answer
    return None
