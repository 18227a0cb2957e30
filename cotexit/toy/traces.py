"""Chains of thought for arith problems, written in the style of reasoning models.

Owns `TraceConfig`, `Trace` and `write_trace`: the step-by-step computation,
cue phrases at line starts ("Wait", "Hmm", "Alternatively", "But wait",
"Let me verify"), slips that a later "Wait" fixes, slips never fixed, and
redundant re-checks after the answer is known. Also builds the assistant
replies the toy model learns (`reply_text`, `forced_reply`). Knows nothing
about tokens or training.

Which cues appear is decided by rules the model can learn (a check after
every multiplication or halving that is not the last step; re-checks in a
fixed order after the answer), so greedy decoding reproduces them; slips and
the number of re-checks are random.

>>> import random
>>> from cotexit.benchmarks.arith import generate_problem
>>> t = write_trace(generate_problem(random.Random(1), 3), random.Random(2))
>>> "So the answer is" in t.text
True
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from cotexit.models.thinking import get_format
from cotexit.benchmarks.arith import ArithProblem, Step

THINK_START = "<think>"
THINK_END = "</think>"
FORCED_EXIT = get_format("toy").forced_exit  # "\n</think>\nThe final answer is \\boxed{"
EOS = "<|end|>"
# The re-checks after the answer, always in this order; a trace has the first 1..4 of them.
RECHECKS = ("double-check", "alternatively", "redo", "question")


@dataclass(frozen=True)
class TraceConfig:
    """Randomness of the traces: slip rates and how many re-checks follow the answer."""

    p_slip_fixed: float = 0.08  # per step: a wrong result fixed at once by "Wait, ..."
    p_late_fix: float = 0.08  # per problem: last step wrong, caught by the first re-check
    p_slip_unfixed: float = 0.05  # per problem: a wrong result nobody notices
    recheck_weights: tuple[float, ...] = (0.02, 0.08, 0.25, 0.65)  # P(1, 2, 3, 4 re-checks)

    def __post_init__(self) -> None:
        for name in ("p_slip_fixed", "p_late_fix", "p_slip_unfixed"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"TraceConfig.{name} must be in [0, 1], got {value!r}")
        if (
            len(self.recheck_weights) != len(RECHECKS)
            or min(self.recheck_weights) < 0
            or sum(self.recheck_weights) <= 0
        ):
            raise ValueError(
                f"TraceConfig.recheck_weights must be {len(RECHECKS)} non-negative weights "
                f"(P(1..{len(RECHECKS)} re-checks)), got {self.recheck_weights!r}"
            )


@dataclass(frozen=True)
class Line:
    """One line of thinking; `cue` if it opens with a cue phrase; `guess` = best answer after it."""

    text: str
    cue: bool
    guess: int


@dataclass(frozen=True)
class Trace:
    """A written chain of thought (without think tags) and what is known at each line."""

    lines: tuple[Line, ...]
    final_answer: int  # the answer the trace ends on (boxed)
    gold: int

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def correct(self) -> bool:
        return self.final_answer == self.gold

    @property
    def n_cues(self) -> int:
        return sum(line.cue for line in self.lines)

    def cut_points(self) -> list[tuple[int, int]]:
        """(character offset in `text`, best guess before it) for each cue line.

        The prefix `text[:offset]` ends with the newline before the cue word.
        """
        out, offset = [], 0
        for i, line in enumerate(self.lines):
            if line.cue and i > 0:
                out.append((offset, self.lines[i - 1].guess))
            offset += len(line.text) + 1
        return out


def _slip(rng: random.Random, value: int) -> int:
    for _ in range(20):
        wrong = value + rng.choice((-10, -2, -1, 1, 2, 10))
        if wrong > 0 and wrong != value:
            return wrong
    return value + 1


def _computation(step: Step, a: int, result: int) -> str:
    """The written arithmetic; multiplications of two-digit numbers spell tens and units."""
    if step.op == "mul" and a >= 10 and a % 10:
        tens, units = (a // 10) * 10, a % 10
        return f"{a} * {step.operand} = {tens * step.operand} + {units * step.operand} = {result}"
    return f"{a} {step.symbol} {step.other} = {result}"


def _chain(prob: ArithProblem, values: list[int]) -> str:
    return " ".join(f"{values[i]} {s.symbol} {s.other} = {values[i + 1]}." for i, s in enumerate(prob.steps))


def _words(prob: ArithProblem, values: list[int]) -> str:
    parts = [f"{values[0]}"] + [f"{s.word} {s.other if s.op != 'half' else 2} is {values[i + 1]}" for i, s in enumerate(prob.steps)]
    return ", ".join(parts)


def _redo(prob: ArithProblem, values: list[int]) -> list[str]:
    """The computation written out again in full sentences, one line per step."""
    out = [f"{prob.name} had {values[0]} {prob.item} at first."]
    for i, step in enumerate(prob.steps):
        out.append(f"After {prob.pronoun.lower()} {prob.step_clause(step)}: {_computation(step, values[i], values[i + 1])}.")
    return out


def write_trace(prob: ArithProblem, rng: random.Random, config: TraceConfig = TraceConfig()) -> Trace:
    """The chain of thought for `prob`, with randomness drawn from `rng` only."""
    lines: list[Line] = [Line(f"{prob.name} starts with {prob.start} {prob.item}.", False, prob.start)]
    n = len(prob.steps)
    unfixed_at = rng.randrange(n) if rng.random() < config.p_slip_unfixed else -1
    late_fix = unfixed_at < 0 and rng.random() < config.p_late_fix
    values = [prob.start]  # what the trace believes, slips included
    late_wrong = None
    for i, step in enumerate(prob.steps):
        a = values[-1]
        true = step.apply(a)
        clause = prob.step_clause(step)
        if i == unfixed_at:
            wrong = _slip(rng, true)
            lines.append(Line(f"{prob.pronoun} {clause}, so {a} {step.symbol} {step.other} = {wrong}.", False, wrong))
            values.append(wrong)
            continue
        if i == n - 1 and late_fix:
            late_wrong = _slip(rng, true)
            lines.append(Line(f"{prob.pronoun} {clause}, so {a} {step.symbol} {step.other} = {late_wrong}.", False, late_wrong))
            values.append(true)
            continue
        if rng.random() < config.p_slip_fixed:
            wrong = _slip(rng, true)
            lines.append(Line(f"{prob.pronoun} {clause}, so {a} {step.symbol} {step.other} = {wrong}.", False, wrong))
            lines.append(Line(f"Wait, {a} {step.symbol} {step.other} is {true}, not {wrong}.", True, true))
        else:
            lines.append(Line(f"{prob.pronoun} {clause}, so {_computation(step, a, true)}.", False, true))
        values.append(true)
        if step.op in ("mul", "half") and i < n - 1:
            lead = "Hmm, let me check that." if rng.random() < 0.8 else "Let me verify that."
            lines.append(Line(f"{lead} {a} {step.symbol} {step.other} = {true}. Right.", True, true))

    stated = late_wrong if late_wrong is not None else values[-1]
    lines.append(Line(f"So the answer is {stated}.", False, stated))
    n_checks = rng.choices(range(1, len(RECHECKS) + 1), weights=config.recheck_weights)[0]
    final = values[-1]
    for k in range(n_checks):
        if k == 0:
            lead = "Wait, let me double-check." if rng.random() < 0.8 else "But wait, let me verify."
            lines.append(Line(lead, True, stated))
            lines.append(Line(_chain(prob, values), False, stated))
            if late_wrong is not None:
                lines.append(Line(f"So it is {final}, not {late_wrong}. The answer is {final}.", False, final))
            else:
                lines.append(Line(f"Yes, the answer is {final}.", False, final))
        elif k == 1:
            lines.append(Line(f"Alternatively, {_words(prob, values)}.", True, final))
            lines.append(Line(f"So it is {final} again.", False, final))
        elif k == 2:
            lead = "Hmm, let me redo it from the start." if rng.random() < 0.8 else "But wait, let me go through it again."
            lines.append(Line(lead, True, final))
            lines.extend(Line(text, False, final) for text in _redo(prob, values))
            lines.append(Line(f"Same result, {final}.", False, final))
        else:
            lead = "Hmm, let me make sure I answer the question." if rng.random() < 0.8 else "But wait, what is asked?"
            lines.append(Line(lead, True, final))
            lines.append(
                Line(f"It asks how many {prob.item} {prob.name} has now. That is {final}.", False, final)
            )
    return Trace(tuple(lines), final, prob.answer)


def reply_text(trace: Trace) -> str:
    """The full assistant reply (without EOS): think block, then the boxed answer."""
    return f"{THINK_START}\n{trace.text}{FORCED_EXIT}{trace.final_answer}}}."


def forced_reply(trace: Trace, cut: tuple[int, int]) -> tuple[str, str, str]:
    """A reply cut at a cue: (thinking prefix, forced-exit text, answer tail without EOS).

    The tail answers with the best guess at the cut, as reasoning models do
    when their thinking is closed early.
    """
    offset, guess = cut
    return f"{THINK_START}\n{trace.text[:offset]}", FORCED_EXIT, f"{guess}}}."
