"""The live check of an exit run's guarantee: each paired result audited, as it finishes, against epsilon.

Owns `LiveCheck` (which loss a paired result row is audited on, fed one row
at a time) and `live_check` (the `live_check` block of `summary.json`). The
statistics are `cotexit.calibration.monitor.BoundMonitor`'s: an anytime-valid
test of "the loss rate is at most epsilon" at the calibration's delta, so
`bench` may look after every problem and say the moment the evidence is there.

Which loss: for an `accuracy-drop` or `joint` guarantee, harm (right thinking
to the end, wrong with the exit) when the rows carry gold answers, else an
answer change (the exit's answer is not the plain run's, `same_answer`),
which happens whenever harm does, so its rate bounds the harm rate from above
and a rejection on it says the answers change too often, not that accuracy
fell; for an `answer-change` guarantee (or `joint` with loss answer-change),
always an answer change. The choice is made on the first row (a run's rows
all have gold or none do); a later row without gold is audited on its answer
change. Other modes bound no per-problem rate by epsilon: no live check.

The test's null is that each problem's loss has probability at most epsilon
given the problems before it, as it does for problems drawn independently
from the distribution the guarantee is about, in random order. A suite sorted
by difficulty or topic can push a stretch of the run above epsilon and trip
the test while the run's average stays below it: a rejection then says the
bound fails on that stretch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cotexit.benchmarks.grading import same_answer
from cotexit.calibration.monitor import BoundMonitor

LOSSES = {
    "harm": "harm (right thinking to the end, wrong with the exit)",
    "answer-change": "answer changed from the run without exits",
}


def _graded(row: Mapping[str, Any]) -> bool:
    return row.get("correct") is not None and (row.get("full") or {}).get("correct") is not None


def audit_loss(row: Mapping[str, Any], loss: str) -> bool:
    """Whether paired result `row` (a results.jsonl line) is a loss: "harm", or "answer-change"."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    full = row["full"]
    if loss == "harm" and _graded(row):
        return bool(full["correct"] and not row["correct"])
    return not same_answer(full["prediction"], row["prediction"])


class LiveCheck:
    """A `BoundMonitor` fed paired result rows; `add` returns True on the row at which it first rejects.

    >>> live = LiveCheck(epsilon=0.05, delta=0.1)
    >>> row = {"correct": False, "prediction": "3", "full": {"correct": True, "prediction": "4"}, "id": "p"}
    >>> [live.add(row) for _ in range(4)]
    [False, False, True, False]
    >>> live.loss, live.rejected_id
    ('harm', 'p')
    """

    def __init__(self, epsilon: float, delta: float, loss: str | None = None, answer_change_only: bool = False):
        if loss is not None and loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)} or None (chosen from the first row), got {loss!r}")
        self.monitor = BoundMonitor(epsilon=epsilon, delta=delta)
        self.loss = "answer-change" if answer_change_only else loss
        self.rejected_id: str | None = None

    @classmethod
    def for_guarantee(
        cls, guarantee: Mapping[str, Any] | None, done: Iterable[Mapping[str, Any]] = ()
    ) -> LiveCheck | None:
        """The check of a probe's guarantee (`Treatment.guarantee`), already fed the rows `done` (a resumed run's),
        or None when the guarantee bounds no rate by epsilon."""
        guarantee = guarantee or {}
        mode, epsilon = guarantee.get("mode"), guarantee.get("epsilon")
        if mode not in ("accuracy-drop", "joint", "answer-change") or epsilon is None:
            return None
        change = mode == "answer-change" or guarantee.get("loss") == "answer-change"
        delta = guarantee.get("delta")
        live = cls(float(epsilon), 0.1 if delta is None else float(delta), answer_change_only=change)
        for row in done:
            live.add(row)
        return live

    @property
    def rejected(self) -> bool:
        return self.monitor.rejected

    def add(self, row: Mapping[str, Any]) -> bool:
        """Audit one paired result row; True only on the row at which the test first rejects."""
        if self.loss is None:
            self.loss = "harm" if _graded(row) else "answer-change"
        was = self.monitor.rejected
        self.monitor.update(audit_loss(row, self.loss))
        if self.monitor.rejected and not was:
            self.rejected_id = str(row.get("id"))
            return True
        return False

    def message(self) -> str:
        """One line for the terminal: the bound holds so far, or where it was rejected."""
        m = self.monitor
        level = f"1/delta = {m.threshold:g}"
        what = "harm" if self.loss == "harm" else "answer-change"
        if m.rejected:
            return (f"REJECTED at problem {m.rejected_at} ({self.rejected_id}): the {what} rate exceeds "
                    f"{m.epsilon:g} on this run (e-value reached {level}; now {m.e_value:.3g}, n={m.n}; "
                    f"rate {m.rate:.1%}, anytime {1 - m.delta:.0%} lower bound {m.lower:.1%})")
        return f"bound holds so far ({what}: e-value {m.e_value:.3g} < {level}, n={m.n})"

    def to_json(self) -> dict[str, Any]:
        """The monitor's state (`BoundMonitor.from_json` resumes it) with the loss audited and the verdict."""
        return {
            **self.monitor.to_json(),
            "loss": self.loss,
            "what": LOSSES.get(self.loss or "", None),
            "rejected_id": self.rejected_id,
            "message": self.message(),
        }


def live_check(rows: Iterable[Mapping[str, Any]], guarantee: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`summary.json`'s `live_check`: the monitor run over paired `rows` in the order they were solved (None when
    the guarantee bounds no rate by epsilon)."""
    live = LiveCheck.for_guarantee(guarantee, done=rows)
    return None if live is None else live.to_json()
