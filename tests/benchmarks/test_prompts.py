from __future__ import annotations

import pytest

from cotexit.benchmarks import prompts
from cotexit.benchmarks.prompts import BOXED_INSTRUCTION, build_prompt, register_template
from cotexit.benchmarks.records import Problem


@pytest.mark.parametrize("suite", ["gsm8k", "math", "math500", "aime24", "aime25", "amc23"])
def test_math_prompt_appends_the_boxed_instruction(suite):
    problem = Problem(id=f"{suite}/test/0", suite=suite, problem="Find $\\frac{a}{b}$ when {x} = 1.  ", answer="1")
    assert build_prompt(problem) == "Find $\\frac{a}{b}$ when {x} = 1.\n" + BOXED_INSTRUCTION
    assert BOXED_INSTRUCTION == "Please reason step by step, and put your final answer within \\boxed{}."


def test_template_override_and_unknown_template(monkeypatch):
    monkeypatch.setattr(prompts, "_TEMPLATES", dict(prompts._TEMPLATES))
    register_template("plain", "Q: {problem}")
    problem = Problem(id="gsm8k/test/0", suite="gsm8k", problem="1+1?", answer="2")
    assert build_prompt(problem, template="plain") == "Q: 1+1?"
    with pytest.raises(ValueError, match="unknown prompt template 'nope'"):
        build_prompt(problem, template="nope")


def test_register_template_validation(monkeypatch):
    monkeypatch.setattr(prompts, "_TEMPLATES", dict(prompts._TEMPLATES))
    with pytest.raises(ValueError, match="must contain"):
        register_template("bad", "no placeholder")
    with pytest.raises(ValueError, match="double other braces"):
        register_template("bad", "{problem} in \\boxed{}")
    with pytest.raises(ValueError, match="already registered"):
        register_template("math", "{problem}")


def test_unknown_suite_is_reported():
    with pytest.raises(ValueError, match="unknown suite"):
        build_prompt(Problem(id="x/0", suite="nosuch", problem="?", answer="1"))
