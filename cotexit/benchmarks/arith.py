"""Synthetic multi-step arithmetic word problems with exact integer answers.

Owns `ArithProblem` (the structured problem: start value and steps) and
`generate_problem`, a pure function of a `random.Random` and a level. Knows
nothing about splits, traces or tokenization: `cotexit.benchmarks.arith_splits`
turns these into benchmark `Problem` records and `cotexit.toy.traces` writes
the chain of thought for them.

Levels 1-5 set the number of steps (1..5), the size of the numbers and which
operations may appear: + and - from level 1, "times as many" from level 3,
exact halving from level 5. Every intermediate value stays in 1..199.

>>> import random
>>> p = generate_problem(random.Random(0), level=3)
>>> p.answer == p.values[-1]
True
"""

from __future__ import annotations

import random
from dataclasses import dataclass

NAMES: tuple[tuple[str, str], ...] = (
    ("Tom", "He"),
    ("Sam", "He"),
    ("Ben", "He"),
    ("Max", "He"),
    ("Mia", "She"),
    ("Ana", "She"),
    ("Eva", "She"),
    ("Zoe", "She"),
)
ITEMS: tuple[str, ...] = ("apples", "coins", "books", "cards", "stamps", "shells", "pens", "eggs")
LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5)
MAX_VALUE = 199

# Per level: (max start value, max add/sub operand, allowed ops).
_LEVEL_SPEC: dict[int, tuple[int, int, tuple[str, ...]]] = {
    1: (20, 12, ("add", "sub")),
    2: (30, 15, ("add", "sub")),
    3: (25, 20, ("add", "sub", "mul")),
    4: (30, 25, ("add", "sub", "mul")),
    5: (40, 30, ("add", "sub", "mul", "half")),
}


@dataclass(frozen=True)
class Step:
    """One operation: `op` in add/sub/mul/half, `operand` the other number, `friend` for gives."""

    op: str
    operand: int
    verb: str
    friend: str = ""

    def apply(self, value: int) -> int:
        if self.op == "add":
            return value + self.operand
        if self.op == "sub":
            return value - self.operand
        if self.op == "mul":
            return value * self.operand
        if self.op == "half":
            return value // 2
        raise ValueError(f"unknown op {self.op!r}")

    @property
    def symbol(self) -> str:
        return {"add": "+", "sub": "-", "mul": "*", "half": "/"}[self.op]

    @property
    def word(self) -> str:
        return {"add": "plus", "sub": "minus", "mul": "times", "half": "divided by"}[self.op]

    @property
    def other(self) -> int:
        """The second number of the written computation (2 for halving)."""
        return 2 if self.op == "half" else self.operand


@dataclass(frozen=True)
class ArithProblem:
    """A word problem: `name` starts with `start` `item`, then `steps` apply in order."""

    level: int
    name: str
    pronoun: str
    item: str
    start: int
    steps: tuple[Step, ...]

    @property
    def values(self) -> tuple[int, ...]:
        """The running value: start, then after each step."""
        out = [self.start]
        for step in self.steps:
            out.append(step.apply(out[-1]))
        return tuple(out)

    @property
    def answer(self) -> int:
        return self.values[-1]

    def step_clause(self, step: Step) -> str:
        """The sentence part describing `step`, shared by problem text and trace (no subject)."""
        if step.op == "add":
            return f"{step.verb} {step.operand} more"
        if step.op == "sub":
            if step.verb == "gives":
                return f"gives {step.operand} to {step.friend}"
            return f"{step.verb} {step.operand}"
        if step.op == "mul":
            return f"gets {step.operand} times as many"
        return "gives half of them away"

    @property
    def text(self) -> str:
        """The problem statement (canonical text; also what splits hash)."""
        parts = [f"{self.name} has {self.start} {self.item}."]
        for i, step in enumerate(self.steps):
            lead = self.pronoun if i == 0 else f"Then {self.pronoun.lower()}"
            parts.append(f"{lead} {self.step_clause(step)}.")
        parts.append(f"How many {self.item} does {self.name} have now?")
        return " ".join(parts)


def _pick_step(rng: random.Random, value: int, level: int, names: list[str], prev_op: str) -> Step | None:
    _, max_operand, ops = _LEVEL_SPEC[level]
    choices = [op for op in ops if not (op in ("mul", "half") and prev_op in ("mul", "half"))]
    op = rng.choice(choices)
    if op == "add":
        if value + 1 > MAX_VALUE:
            return None
        operand = rng.randint(1, min(max_operand, MAX_VALUE - value))
        return Step("add", operand, rng.choice(("buys", "finds", "wins")))
    if op == "sub":
        if value < 2:
            return None
        operand = rng.randint(1, min(max_operand, value - 1))
        verb = rng.choice(("gives", "loses", "sells"))
        return Step("sub", operand, verb, rng.choice(names) if verb == "gives" else "")
    if op == "mul":
        factors = [k for k in (2, 3, 4) if value * k <= MAX_VALUE and (k == 2 or value <= 30)]
        if not factors or value > 60:
            return None
        return Step("mul", rng.choice(factors), "gets")
    if value % 2 or value < 4:
        return None
    return Step("half", 2, "gives")


def generate_problem(rng: random.Random, level: int) -> ArithProblem:
    """One problem of `level` (1-5), drawn from `rng`; deterministic given the rng state."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    max_start, _, _ = _LEVEL_SPEC[level]
    n_steps = level
    while True:
        name, pronoun = rng.choice(NAMES)
        friends = [n for n, _ in NAMES if n != name]
        item = rng.choice(ITEMS)
        start = rng.randint(2, max_start)
        value, prev_op, steps = start, "", []
        for _ in range(n_steps):
            step = None
            for _attempt in range(8):
                step = _pick_step(rng, value, level, friends, prev_op)
                if step is not None:
                    break
            if step is None:
                break
            steps.append(step)
            value = step.apply(value)
            prev_op = step.op
        if len(steps) == n_steps and 1 <= value <= MAX_VALUE:
            return ArithProblem(level, name, pronoun, item, start, tuple(steps))
