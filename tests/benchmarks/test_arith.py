"""The arith generator is deterministic, its splits are disjoint, its answers exact."""

from __future__ import annotations

import random

import pytest

from cotexit.benchmarks.arith import LEVELS, generate_problem
from cotexit.benchmarks.arith_splits import ARITH_SPLITS, arith_problems, arith_structured, split_of_text


def test_generator_is_deterministic():
    a = [generate_problem(random.Random(7), level).text for level in LEVELS]
    b = [generate_problem(random.Random(7), level).text for level in LEVELS]
    assert a == b


@pytest.mark.parametrize("level", LEVELS)
def test_levels_have_that_many_steps_and_exact_answers(level):
    rng = random.Random(level)
    for _ in range(50):
        p = generate_problem(rng, level)
        assert len(p.steps) == level
        assert all(1 <= v <= 199 for v in p.values)
        assert p.answer == p.values[-1]


def test_bad_level_and_split_raise():
    with pytest.raises(ValueError, match="level"):
        generate_problem(random.Random(0), 9)
    with pytest.raises(ValueError, match="split"):
        arith_problems("dev")


def test_records_are_stable_and_disjoint():
    test = arith_problems("test")
    assert len(test) == 1000
    assert test[17].id == "arith/test/17"
    assert {p.metadata["level"] for p in test} == set(LEVELS)
    assert arith_problems("test", limit=5) == test[:5]
    calib = arith_problems("calib", limit=500)
    train = arith_problems("train", limit=3000)
    texts = {s: {p.problem for p in ps} for s, ps in zip(ARITH_SPLITS, (train, calib, test))}
    assert not texts["test"] & texts["calib"]
    assert not texts["test"] & texts["train"]
    assert not texts["calib"] & texts["train"]
    assert len(texts["test"]) == 1000  # no duplicates inside a split
    assert all(split_of_text(p.problem) == "test" for p in test)


def test_answer_is_an_integer_string():
    for p in arith_structured("calib", 20):
        assert str(p.answer).isdigit()
