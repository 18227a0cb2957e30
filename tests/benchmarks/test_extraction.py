from __future__ import annotations

import pytest

from cotexit.benchmarks.extraction import answer_is, extract_answer, gsm8k_final, last_boxed, last_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\boxed{\\sqrt{\\frac{a}{b}}}", "\\sqrt{\\frac{a}{b}}"),
        ("first \\boxed{1}, then \\boxed{2}", "2"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("so $\\boxed 5$ it is", "5"),
        ("\\fbox{7}", "7"),
        ("\\boxed {x^{2}}", "x^{2}"),
        ("\\boxed{3} and a truncated \\boxed{\\frac{1}{", "3"),
        ("\\boxed{}", None),
        ("no box at all", None),
        ("", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


def test_last_boxed_ignores_longer_commands():
    assert last_boxed("\\boxedfoo{3}") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She pays 18 dollars.\n#### 18", "18"),
        ("#### 1,234", "1234"),
        ("#### -3", "-3"),
        ("#### $5.50", "5.50"),
        ("#### 1\nlater #### 2", "2"),
        ("no marker 42", None),
    ],
)
def test_gsm8k_final(text, expected):
    assert gsm8k_final(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 then 2 then 3", "3"),
        ("total 1,234,567 apples", "1234567"),
        ("x = -2.5.", "-2.5"),
        ("5-3", "3"),
        ("none here", None),
    ],
)
def test_last_number(text, expected):
    assert last_number(text) == expected


def test_answer_is():
    assert answer_is("So the answer is $\\frac{3}{4}$.") == "\\frac{3}{4}"
    assert answer_is("The final answer is: 42.\nDone") == "42"
    assert answer_is("nothing") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("answer is 3, boxed \\boxed{4}", "4"),
        ("computed 3\n#### 4", "4"),
        ("the answer is 12 apples, not 13", "12 apples, not 13"),
        ("we get 3 and then 9", "9"),
        ("no answer", None),
        (None, None),
    ],
)
def test_extract_answer_chain(text, expected):
    assert extract_answer(text) == expected
