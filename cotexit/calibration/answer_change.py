"""`answer-change`: bound how often an exit changes the run's answer, with no gold answer read.

Problem i's loss at threshold lambda is 1 when the answer forced at the first
cue with score >= lambda differs from the answer the same run gives thinking
to the end; a run that never exits loses nothing. This is `accuracy-drop`'s
loss with "right" read as "agrees with the run thought to the end": on a
`CueTable` whose `forced_correct` says whether each cue's forced answer
agrees with the full run's and whose `full_correct` is all True,
accuracy-drop's harm is exactly an answer change. So
`calibrate_answer_change` runs `ltt.calibrate_accuracy_drop` on such a table
(the same candidates, p-values and fixed-sequence test, written once) and
only names the mode and says what is bounded; `answer_change_table` makes
the table. `joint_guarantee` says the same of a joint calibration (probe
threshold and depth setting) run on agreement labels.

Why it bounds the accuracy drop under any grading: answers are compared by
their canonical form (`cotexit.benchmarks.grading.same_answer`), and two
answers of one canonical form are graded alike by `is_equivalent` against
every gold answer. So for any gold, "right thinking to the end and wrong at
the exit" implies "the answer changed", and P(accuracy drop event) <=
P(change) <= epsilon. A missing answer agrees with nothing: where the full
run gives none, every exit counts as a change. Which answers agree is
decided where the data are collected; here only the labels are seen.

>>> t = answer_change_table(CueTable.from_lists([[0.9]] * 60, [[True]] * 60, [False] * 60))
>>> calibrate_answer_change(t, epsilon=0.05).threshold
0.9
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cotexit.calibration.data import CueTable
from cotexit.calibration.digits import format_threshold
from cotexit.calibration.joint import JointCalibration
from cotexit.calibration.ltt import calibrate_accuracy_drop
from cotexit.calibration.result import Calibration
from cotexit.calibration.shortfall import TooFewSamples

MODE = "answer-change"


def answer_change_table(table: CueTable) -> CueTable:
    """`table` with every problem's run to the end counted as agreeing with itself (`full_correct` all True).

    Its `forced_correct` must already say whether each cue's forced answer agrees with the full run's.
    """
    return CueTable(
        scores=table.scores,
        forced_correct=table.forced_correct,
        offsets=table.offsets,
        full_correct=np.ones(table.n_problems, dtype=bool),
        cue_tokens=table.cue_tokens,
        full_tokens=table.full_tokens,
    )


def calibrate_answer_change(
    table: CueTable, epsilon: float, delta: float = 0.1, *, p_value_kind: str = "binomial"
) -> Calibration:
    """Threshold with P(the exit changes the run's answer) <= epsilon, w.p. >= 1 - delta.

    `table.forced_correct` holds agreement labels and `table.full_correct` is all True (`answer_change_table`).
    """
    if not table.full_correct.all():
        bad = int(np.flatnonzero(~table.full_correct)[0])
        raise ValueError(
            f"answer-change takes agreement labels: a run thought to the end agrees with itself, so full_correct "
            f"must be all True (problem {bad} is False); build the table with answer_change_table"
        )
    try:
        cal = calibrate_accuracy_drop(table, epsilon, delta, p_value_kind=p_value_kind)
    except TooFewSamples as exc:
        raise TooFewSamples(
            exc.detail.replace("accuracy-drop", MODE, 1), need=exc.need, got=exc.got, unit=exc.unit, looser=exc.looser
        ) from None
    return dataclasses.replace(cal, mode=MODE, guarantee=_guarantee(cal, epsilon, delta))


def _guarantee(cal: Calibration, epsilon: float, delta: float) -> str:
    if cal.threshold is None:
        return "No threshold passed the first test: the controller never exits, so the answer never changes."
    candidates = list(cal.candidates)
    i = candidates.index(cal.threshold)
    shown = format_threshold(cal.threshold, candidates[max(i - 1, 0) : i + 2], digits=6)
    return (
        f"With probability >= {1 - delta:g} over the draw of the {cal.n_problems} calibration problems, for a new "
        f"problem from the same distribution: P(the answer of the run that exits at the first cue with score >= "
        f"{shown} differs from the answer the same run gives thinking to the end) <= {epsilon}. Answers are "
        f"compared by canonical form, and equal forms are graded alike against any gold answer, so the expected "
        f"accuracy drop against thinking to the end is <= {epsilon} under any grading; no gold answer enters the "
        f"bound. Problems are independent; cues of one problem are never counted as separate samples."
    )


def joint_guarantee(cal: JointCalibration) -> str:
    """The guarantee of `calibrate_joint` run on agreement labels: each arm's labels say whether an answer (forced
    at a cue, or its run's to the end) is the reference run's, and the reference counts as agreeing with itself."""
    epsilon, delta, n = cal.epsilon, cal.delta, cal.n_problems
    if cal.arm is None:
        where = "" if cal.only is None else f" with depth setting {cal.only}"
        return (f"No pair{where} was certified at epsilon={epsilon}, delta={delta}: neither exit may be turned on with "
                "this guarantee.")
    shown = None if cal.threshold is None else format_threshold(cal.threshold, digits=6)
    where = "never exits" if shown is None else f"exits at the first cue with score >= {shown}"
    depth = "every layer" if cal.layer_exit is None else f"depth setting {cal.arm}"
    chooser = "" if cal.only is None else f" (chosen among the certified pairs of depth setting {cal.only} only)"
    n_arms = len(cal.arms)
    return (
        f"With probability >= {1 - delta:g} over the draw of the {n} calibration problems, for a new problem from the "
        f"same distribution: P(the run that {where}, with {depth}, gives another answer than the run with neither "
        f"exit) <= {epsilon}. Answers are compared by canonical form, and equal forms are graded alike against any "
        f"gold answer, so the expected accuracy drop of both exits together against neither is <= {epsilon} under "
        f"any grading; no gold answer enters the bound. The bound holds for every certified pair of the grid at once "
        f"({n_arms} depth settings, Bonferroni across them, fixed-sequence within each), so choosing the pair that "
        f"saves the most compute{chooser} keeps it."
    )
