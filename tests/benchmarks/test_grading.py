from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from cotexit.benchmarks import grading
from cotexit.benchmarks.grading import is_equivalent, normalize_answer, parse_number


@pytest.mark.parametrize(
    ("gold", "pred"),
    [
        ("\\frac{1}{2}", "0.5"),
        ("\\dfrac{1}{2}", "\\frac12"),
        ("025", "25"),
        ("18.0", "18"),
        ("18", "18.000"),
        ("1,000", "1000"),
        ("27.0", "27"),
        ("50\\%", "50"),
        ("\\$18", "18"),
        ("90^\\circ", "90"),
        ("10\\text{ cm}", "10"),
        ("\\text{Evelyn}", "Evelyn"),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"),
        ("\\boxed{7}", "$7$"),
        ("1/3", "0.333333333333"),
        ("-\\frac{2}{39203}", "-0.0000510165038389919"),
        ("x=5", "5"),
        ("2\\sqrt{2}", "\\sqrt{8}"),
        ("1,-2", "-2, 1"),
    ],
)
def test_equivalent(gold, pred):
    assert is_equivalent(gold, pred)


@pytest.mark.parametrize(
    ("gold", "pred"),
    [
        ("3", "4"),
        ("1,000", "1"),
        ("0.5", "0.51"),
        ("2x", "2"),
        ("\\frac{1}{2}", "\\frac{1}{3}"),
        ("\\sqrt{2}", "\\sqrt{3}"),
        ("5", None),
        ("5", ""),
        ("", ""),
    ],
)
def test_not_equivalent(gold, pred):
    assert not is_equivalent(gold, pred)


@pytest.mark.parametrize(
    "garbage",
    [None, 3.5j, {"a": 1}, ["1"], "\\frac{", "}{", "$$", "\\boxed{", "\\frac{1}{0}", "x" * 5000, "((((", "\x00"],
)
def test_garbage_never_raises(garbage):
    assert is_equivalent("1", garbage) is False
    assert is_equivalent(garbage, "1") is False


def test_numbers_are_accepted_as_well_as_text():
    assert is_equivalent("5", 5)
    assert is_equivalent(5.0, "5")
    assert not is_equivalent("1", True)


def test_parse_number_and_normalize():
    assert parse_number("025") == 25
    assert parse_number("1,234.5") == 1234.5
    assert parse_number("-\\frac{3}{4}") == parse_number("-3/4")
    assert parse_number("1_000") is None
    assert parse_number("inf") is None
    assert normalize_answer("$\\dfrac{1}{2}$.") == "\\frac{1}{2}"


def test_grading_in_a_worker_thread_reaches_math_verify(caplog):
    """math-verify's signal timeouts would raise here; grading turns them off and stays quiet about it."""
    grading._symbolic_equal.cache_clear()
    cases = [("2\\sqrt{2}", "\\sqrt{8}", True), ("x=5", "5", True), ("\\sqrt{2}", "\\sqrt{3}", False)]

    def grade(case):
        gold, pred, _ = case
        assert threading.current_thread() is not threading.main_thread()
        return is_equivalent(gold, pred)

    with caplog.at_level(logging.WARNING), ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(grade, cases))
    assert results == [expected for *_, expected in cases]
    assert grading._symbolic_equal.cache_info().misses >= len(cases)
    assert not [r for r in caplog.records if "Timeout" in r.getMessage()]
