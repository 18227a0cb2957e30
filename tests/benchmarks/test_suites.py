from __future__ import annotations

import dataclasses

import pytest

from cotexit.benchmarks import suites
from cotexit.benchmarks.records import Problem
from cotexit.benchmarks.suites import SUITES, GoldFix, HubSource, SuiteSpec, get_suite, list_suites, register_suite

EXPECTED_SPLITS = {
    "gsm8k": ("train", "test"),
    "math": ("train", "test"),
    "math500": ("test",),
    "aime24": ("test",),
    "aime25": ("test",),
    "amc23": ("test",),
}


def test_builtin_suites_and_splits():
    for name, splits in EXPECTED_SPLITS.items():
        spec = get_suite(name)
        assert spec.splits == splits and spec.default_split == "test"
        assert set(spec.files) == set(splits) and spec.hub is not None
    assert set(EXPECTED_SPLITS) <= set(list_suites())


def test_arith_is_declared_as_a_generated_suite():
    spec = get_suite("arith")
    assert spec.is_generated and spec.splits == ("train", "calib", "test") and not spec.files


@pytest.mark.parametrize(
    ("typo", "suggestion"), [("gsm8", "'gsm8k'"), ("math5000", "'math500'"), ("aime2024", "'aime24'")]
)
def test_unknown_suite_suggests(typo, suggestion):
    with pytest.raises(ValueError, match=f"did you mean.*{suggestion}"):
        get_suite(typo)


def test_unknown_suite_without_close_match_lists_known():
    with pytest.raises(ValueError, match="Known suites: .*gsm8k") as info:
        get_suite("zzzzzz")
    assert "did you mean" not in str(info.value)


def test_unknown_split_names_allowed():
    with pytest.raises(ValueError, match="no split 'dev'; allowed: train, test"):
        get_suite("gsm8k").check_split("dev")
    assert get_suite("math500").check_split(None) == "test"


def _generated(split, limit):
    return [Problem(id=f"demo/{split}/{i}", suite="demo", problem=f"{i}+1?", answer=str(i + 1)) for i in range(5)]


def test_register_suite(monkeypatch):
    monkeypatch.setattr(suites, "_REGISTRY", dict(suites._REGISTRY))
    spec = SuiteSpec(name="demo", splits=("test",), generate=_generated)
    register_suite(spec)
    assert get_suite("demo") is spec and "demo" in list_suites()
    other = dataclasses.replace(spec, prompt="gsm8k")
    with pytest.raises(ValueError, match="already registered"):
        register_suite(other)
    register_suite(other, replace=True)
    assert get_suite("demo").prompt == "gsm8k"
    with pytest.raises(TypeError):
        register_suite("demo")


def test_registry_view_is_read_only():
    with pytest.raises(TypeError):
        SUITES["x"] = get_suite("gsm8k")  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Bad Name"}, "lowercase"),
        ({"splits": ()}, "non-empty"),
        ({"splits": ("test", "test")}, "distinct"),
        ({"default_split": "dev"}, "default_split 'dev'"),
        ({"files": {"train": "x.jsonl"}}, "files must map exactly"),
        ({"generate": _generated}, "takes no files"),
        ({"problem_fields": ()}, "problem_fields"),
        ({"expected_rows": {"dev": 3}}, "unknown split"),
        ({"gold_fixes": {"k": "0"}}, "GoldFix"),
    ],
)
def test_spec_validation(kwargs, message):
    base = {"name": "demo", "splits": ("test",), "files": {"test": "demo/test.jsonl"}}
    with pytest.raises(ValueError, match=message):
        SuiteSpec(**{**base, **kwargs})


def test_hub_and_fix_validation():
    with pytest.raises(ValueError, match="owner/name"):
        HubSource("gsm8k", {"test": "test"})
    with pytest.raises(ValueError, match="hub splits"):
        SuiteSpec(name="demo", splits=("test",), files={"test": "t.jsonl"}, hub=HubSource("a/b", {"dev": "dev"}))
    with pytest.raises(ValueError, match="non-empty answer"):
        GoldFix(answer="", reason="why")


def test_gold_functions():
    assert suites.gsm8k_gold({"answer": "so\n#### 1,000"}) == "1000"
    assert suites.math_solution_gold({"solution": "\\boxed{1} and \\boxed{\\frac{1}{2}}"}) == "\\frac{1}{2}"
    assert suites.answer_field({"answer": "025"}) == "025"
    assert suites.answer_field({"answer": 27.0}) == "27.0"
    assert suites.answer_field({"answer": 70}) == "70"
    bad_rows = [
        ({"answer": "no marker"}, suites.gsm8k_gold),
        ({"solution": "\\boxed{}"}, suites.math_solution_gold),
        ({"answer": None}, suites.answer_field),
        ({"answer": " "}, suites.answer_field),
    ]
    for row, gold in bad_rows:
        with pytest.raises(ValueError):
            gold(row)
