"""`canonical_answer` / `same_answer`, the comparison the answer-change mode counts changes with: two answers of
one canonical form are graded alike against every gold answer, so an unchanged answer never costs accuracy."""

from __future__ import annotations

import itertools

import pytest

from cotexit.benchmarks.grading import MAX_SYMBOLIC_CHARS, canonical_answer, is_equivalent, normalize_answer, same_answer

PAD = "\\," * (MAX_SYMBOLIC_CHARS // 2 + 1)  # thin spaces that normalising drops, long enough to pass the length guard

ANSWERS = [
    "18", "$18$", "18.", "\\boxed{18}", "$\\boxed{18}$.", "\\(18\\)", " 18 ", "18.0", "018", "19",
    "\\frac{1}{2}", "$\\dfrac{1}{2}$", "0.5", "1/2",
    "5 \\text{cm}", "5cm", "5\\text{ cm}",
    "y+x", "x+y", "y+x" + PAD, "y + x",
    "(3, \\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)",
    "", "$$", "Evelyn", "\\text{Evelyn}",
]
GOLDS = ["18", "\\frac{1}{2}", "5", "x+y", "(3,\\frac{\\pi}{2})", "Evelyn", "19", "0"]


def test_equal_canonical_forms_are_graded_alike_against_every_gold():
    pairs = 0
    for a, b in itertools.combinations(ANSWERS, 2):
        if canonical_answer(a) != canonical_answer(b):
            continue
        pairs += 1
        for gold in GOLDS:
            assert is_equivalent(gold, a) == is_equivalent(gold, b), (gold, a, b)
    assert pairs >= 8, "the check would be vacuous"


def test_normalised_strings_are_not_enough_and_the_canonical_form_keeps_them_apart():
    # the length guard grades a long spelling wrong where math-verify grades the short one right
    long = "y+x" + PAD
    assert normalize_answer(long) == normalize_answer("y+x")
    assert is_equivalent("x+y", "y+x") and not is_equivalent("x+y", long)
    assert not same_answer("y+x", long)


@pytest.mark.parametrize("a, b", [("$18$", "18"), ("\\boxed{18}", "$18$."), ("\\(18\\)", " 18"), ("5", 5)])
def test_spellings_that_are_one_form(a, b):
    assert same_answer(a, b) and same_answer(b, a)


@pytest.mark.parametrize("a, b", [("18", "19"), ("0.5", "1/2"), ("18", "18.0"), ("18", None), (None, None), (True, True)])
def test_a_different_or_missing_answer_is_a_change(a, b):
    assert not same_answer(a, b)


def test_canonical_answer_is_idempotent():
    for a in ANSWERS:
        once = canonical_answer(a)
        assert canonical_answer(once) == once
