"""Deciding whether a predicted answer equals the gold one, and how two runs of one problem differ.

Owns `is_equivalent(gold, pred)`; for a decoded row (a
`cotexit.controller.RowResult`, or anything with its `text` and
`answer_text`), `predicted_answer` (its answer part first, then its whole
text) and `grade_row` (against its problem); and the comparisons of two runs
of one problem: `answers_differ` (their answers) and `disagreement` (their
token streams), and `canonical_answer` / `same_answer`, the comparison the
`answer-change` calibration mode counts changes with. `is_equivalent` has two stages: a fast path that normalises
both strings (spacing, `\\dfrac`, `\\left`, `$`, `%`, degree marks, `\\text{}`
wrappers) and compares plain numbers and integer fractions exactly or within
a relative 1e-6; then, only when the fast path cannot decide, math-verify's
symbolic comparison. Extracting the answer from a text is `extraction`'s
job; counting accuracy is the caller's.

math-verify guards parsing with `signal.alarm`, which raises outside the main
thread; its timeouts are switched off here so grading works in any thread.
In exchange, inputs longer than `MAX_SYMBOLIC_CHARS` never reach sympy.

>>> is_equivalent("\\\\frac{1}{2}", "0.5"), is_equivalent("025", "25"), is_equivalent("3", "4")
(True, True, False)
"""

from __future__ import annotations

import logging
import math
import re
from fractions import Fraction
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

from cotexit.benchmarks.extraction import extract_answer
from cotexit.benchmarks.records import Problem

__all__ = [
    "MAX_SYMBOLIC_CHARS",
    "AnsweredRow",
    "answers_differ",
    "canonical_answer",
    "disagreement",
    "grade_answer",
    "grade_row",
    "is_equivalent",
    "normalize_answer",
    "parse_number",
    "predicted_answer",
    "same_answer",
]

logger = logging.getLogger(__name__)

REL_TOL = 1e-6
ABS_TOL = 1e-9
MAX_SYMBOLIC_CHARS = 400
"""Longer answers are compared by the fast path only: unbounded sympy work cannot be interrupted."""

_SPACING = re.compile(r"\\[,;:! ]|~")
_WRAPPERS = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox)\{([^{}]*)\}")
_DEGREES = re.compile(r"\^\s*\{?\\circ\}?|°")
_TRAILING_UNIT = re.compile(r"^(.*?\d)\s*\\(?:text|mbox|mathrm)\{\s*[A-Za-z][A-Za-z .]*\}$")
_DECIMAL = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_FRAC = re.compile(r"^([+-])?\\frac\{([+-]?\d+)\}\{([+-]?\d+)\}$|^([+-])?\\frac(\d)(\d)$")
_SLASH = re.compile(r"^([+-]?\d+)/([+-]?\d+)$")
_BOX_OPEN = re.compile(r"^\\(?:boxed|fbox)\s*\{")


def _whole_box(text: str) -> str | None:
    """The content of `text` when all of it is one `\\boxed{...}` (braces matched), else `None`."""
    opening = _BOX_OPEN.match(text)
    if opening is None or not text.endswith("}"):
        return None
    depth, i = 0, opening.end() - 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[opening.end() : -1] if i == len(text) - 1 else None
        i += 1
    return None


def _strip_outer(text: str) -> str:
    """Peel `$...$`, `\\(...\\)`, a whole-answer `\\boxed{}` and a final period, repeatedly."""
    previous = None
    while text != previous:
        previous = text
        text = text.strip()
        if len(text) >= 2 and text.startswith("$") and text.endswith("$"):
            text = text.strip("$")
        if text.startswith("\\(") and text.endswith("\\)"):
            text = text[2:-2]
        boxed = _whole_box(text)
        if boxed is not None:
            text = boxed
        if text.endswith(".") and not _DECIMAL.match(text):
            text = text[:-1]
    return text


def normalize_answer(text: str) -> str:
    """A canonical spelling of an answer for string comparison; it never changes the value.

    >>> normalize_answer("$\\\\dfrac{1}{2}$.")
    '\\\\frac{1}{2}'
    >>> normalize_answer("\\\\left( 3, \\\\text{ cm} \\\\right)")
    '(3,cm)'
    """
    text = _strip_outer(text)
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = text.replace("\\left", "").replace("\\right", "")
    text = _SPACING.sub("", text)
    text = _DEGREES.sub("", text)
    text = text.replace("\\%", "").replace("%", "").replace("\\$", "").replace("$", "")
    previous = None
    while text != previous:
        previous = text
        text = _WRAPPERS.sub(r"\1", text)
    return re.sub(r"\s+", "", text)


def parse_number(text: str) -> Fraction | float | None:
    """The value of a plain number (`1,000`, `-0.50`, `025`), integer fraction (`\\frac{1}{2}`, `3/4`) or `None`.

    Integers and fractions come back exact (`Fraction`); decimals as `float`.

    >>> parse_number("1,000"), parse_number("\\\\frac12"), parse_number("x")
    (Fraction(1000, 1), Fraction(1, 2), None)
    """
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    if _DECIMAL.match(text):
        return Fraction(int(text)) if re.fullmatch(r"[+-]?\d+", text) else float(text)
    fraction = _FRAC.match(text) or _SLASH.match(text)
    if fraction is None:
        return None
    groups = [g for g in fraction.groups() if g is not None]
    sign = -1 if groups[0] == "-" else 1
    numerator, denominator = (int(g) for g in groups[-2:])
    if denominator == 0:
        return None
    return sign * Fraction(numerator, denominator)


def _numeric_value(text: str, normalized: str) -> Fraction | float | None:
    """`parse_number` of the normalised answer or, failing that, of the raw one less a `\\text{unit}` suffix."""
    value = parse_number(normalized)
    if value is None:
        unit = _TRAILING_UNIT.match(_strip_outer(text))
        if unit:
            value = parse_number(normalize_answer(unit.group(1)))
    return value


def _numbers_close(a: Fraction | float, b: Fraction | float) -> bool:
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a == b
    return math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=ABS_TOL)


class _DisabledTimeoutNotice(logging.Filter):
    """Drops math-verify's one-time notice that its timeouts are off: that is this module's choice."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


@lru_cache(maxsize=1)
def _math_verify() -> tuple[Any, Any]:
    """math-verify's `parse` and `verify`, imported on first need (sympy is slow to import)."""
    notice_filter = _DisabledTimeoutNotice()
    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addFilter(notice_filter)
    from math_verify import parse, verify

    return parse, verify


@lru_cache(maxsize=4096)
def _symbolic_equal(gold: str, pred: str) -> bool:
    parse, verify = _math_verify()
    try:
        gold_parsed = parse(f"${gold}$", parsing_timeout=None)
        pred_parsed = parse(f"\\boxed{{{pred}}}", parsing_timeout=None)
        if not gold_parsed or not pred_parsed:
            return False
        return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))
    except Exception:  # math-verify and sympy raise many types on odd input; grading must not
        logger.debug("math-verify failed on gold=%r pred=%r", gold, pred, exc_info=True)
        return False


def _as_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def answers_differ(a: str | None, b: str | None) -> bool:
    """Whether two extracted answers are spelled differently once normalised (`None` matches only `None`).

    Two spellings of one value ("0.5", "1/2") count as different: for a bound on how often answers change,
    that errs on the safe side.

    >>> answers_differ("$18$", "18"), answers_differ("18", "19"), answers_differ(None, "18")
    (False, True, True)
    """
    if a is None or b is None:
        return (a is None) != (b is None)
    return normalize_answer(a) != normalize_answer(b)


def canonical_answer(answer: str | None) -> str | None:
    """The form two extracted answers are compared in by `same_answer`: equal forms are graded alike.

    `is_equivalent(gold, pred)` reads `pred` only through `_strip_outer(pred)` (every later step,
    normalising, the number parse, the unit fallback and math-verify, starts from it) and through whether
    `pred` is longer than `MAX_SYMBOLIC_CHARS`. So the canonical form of an answer of at most that length is
    `_strip_outer(answer)` (`$18$.`, `\\boxed{18}` and `18` are one form), and a longer answer is its own
    form, verbatim: two answers with equal forms get the same grade against every gold answer. Coarser
    forms would not: `normalize_answer` merges `y+x` with `y+x` followed by 200 `\\,`, which math-verify
    grades right against `x+y` and the length guard grades wrong. Two spellings of one value (`0.5`, `1/2`)
    keep different forms: a change is counted where none was, which only makes a bound on changes
    stricter. Non-text (`None`, a bool) has no form (None).

    >>> canonical_answer("$18$."), canonical_answer("\\\\boxed{18}"), canonical_answer(None)
    ('18', '18', None)
    """
    text = _as_text(answer)
    if text is None:
        return None
    return text if len(text) > MAX_SYMBOLIC_CHARS else _strip_outer(text)


def same_answer(a: str | None, b: str | None) -> bool:
    """Whether two extracted answers have one `canonical_answer`, so that `is_equivalent` grades them alike
    against any gold answer. A missing answer (None) is the same as nothing, not even another missing one:
    where a run gives no answer, an exit counts as a change.

    >>> same_answer("$18$", "18"), same_answer("18", "19"), same_answer(None, None)
    (True, False, False)
    """
    ca, cb = canonical_answer(a), canonical_answer(b)
    return ca is not None and ca == cb


def is_equivalent(gold: str, pred: str | None) -> bool:
    """Whether `pred` (an extracted answer) denotes the same value as `gold`; never raises.

    `None`, empty and non-text predictions are wrong. Safe to call from any thread.

    >>> is_equivalent("18", "18.0"), is_equivalent("1,000", "1000"), is_equivalent("50\\\\%", "50")
    (True, True, True)
    """
    gold_text, pred_text = _as_text(gold), _as_text(pred)
    if gold_text is None or pred_text is None:
        return False
    gold_norm, pred_norm = normalize_answer(gold_text), normalize_answer(pred_text)
    if not gold_norm or not pred_norm:
        return False
    if gold_norm == pred_norm:
        return True
    gold_value, pred_value = _numeric_value(gold_text, gold_norm), _numeric_value(pred_text, pred_norm)
    if gold_value is not None and pred_value is not None:
        return _numbers_close(gold_value, pred_value)
    if max(len(gold_text), len(pred_text)) > MAX_SYMBOLIC_CHARS:
        return False
    return _symbolic_equal(_strip_outer(gold_text), _strip_outer(pred_text))


class AnsweredRow(Protocol):
    """What `predicted_answer` reads of a decoded row (`cotexit.controller.RowResult` is one)."""

    text: str  # the whole generated text
    answer_text: str  # the part after thinking closed ("" when it never did)


def predicted_answer(row: AnsweredRow) -> str | None:
    """The row's final answer: extracted from its answer part first, then from its whole text.

    >>> from types import SimpleNamespace
    >>> predicted_answer(SimpleNamespace(text="maybe 3. Then 4", answer_text=" so it is 4"))
    '4'
    """
    prediction = extract_answer(row.answer_text) if row.answer_text.strip() else None
    return prediction if prediction is not None else extract_answer(row.text)


def grade_answer(gold: str | None, answer: str | None) -> bool | None:
    """Whether `answer` is the gold one; None when there is no gold answer (a prompt of the user's, no answer)."""
    return None if gold is None else is_equivalent(gold, answer)


def grade_row(item: Problem | object, row: AnsweredRow) -> tuple[str | None, bool | None]:
    """A decoded row's answer (`predicted_answer`) and whether it is the item's: a `Problem`'s gold answer, or
    None for an item without one (a user's prompt)."""
    prediction = predicted_answer(row)
    return prediction, grade_answer(getattr(item, "answer", None), prediction)


def disagreement(full: Sequence[int], treated: Sequence[int]) -> tuple[int, int]:
    """(differing positions, compared positions) of two token streams, position by position over their common length.

    >>> disagreement([5, 6, 7, 8], [5, 9, 7])
    (1, 3)
    """
    n = min(len(full), len(treated))
    return sum(a != b for a, b in zip(full[:n], treated[:n])), n
