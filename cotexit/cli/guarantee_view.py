"""The guarantee of an exit run, in words and numbers, for the terminal: what is bounded, what this run realized.

Owns `guarantee_rows` and `guarantee_grid` (for `bench`'s summary and `--sweep`'s),
`coverage_line` (whether the probe's certificate covers the run) and
`fmt_level`/`fmt_threshold` (numbers printed with the digits that tell them
apart). Reads only the dicts the runners write into `summary.json`
(`guarantee`, `empirical`, `live_check`); prints nothing itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.markup import escape
from rich.table import Table

from cotexit.calibration.digits import format_threshold

_WHAT = {
    "accuracy-drop": "accuracy drop against thinking to the end",
    "answer-change": "P(the exit changes the answer of the run thought to the end)",
    "joint/answer-change": "P(the exits change the answer of the run with neither)",
    "joint": "accuracy drop against the run with neither exit",
    "stop-precision": "P(answer wrong | the probe exits)",
    "cue": "P(exit at a cue | the answer forced there is wrong), per cue",
}


def fmt_level(p: float) -> str:
    """A rate as a percentage with the digits that matter: 0.02 -> '2%', 0.025 -> '2.5%', 0.0012 -> '0.12%'."""
    pct = 100.0 * p
    return f"{pct:.2g}%" if pct < 10 else f"{pct:.3g}%"


def fmt_threshold(t: float, neighbours: Iterable[float] = ()) -> str:
    """A probe threshold with the digits that tell it from its neighbours (the other calibrated levels) and from
    1: 0.6277530 -> '0.6278', 0.99999988 -> '0.99999988 (1 - 1.2e-07)' (`calibration.digits`)."""
    return format_threshold(t, neighbours, gap=True)


def _bound(guarantee: dict[str, Any]) -> float | None:
    mode = guarantee.get("mode")
    value = guarantee.get("epsilon") if mode in ("accuracy-drop", "answer-change", "joint") else guarantee.get("alpha")
    return float(value) if value is not None else None


def _realized(summary: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(what, {rate, ci95, n}) this run realized of the loss the guarantee bounds, or None."""
    empirical = summary.get("empirical") or {}
    guarantee = summary.get("guarantee") or {}
    mode = guarantee.get("mode")
    if mode == "answer-change" or (mode == "joint" and guarantee.get("loss") == "answer-change"):
        return "answer changed from the run without exits", empirical.get("answer_change_events") or {}
    if mode in ("accuracy-drop", "joint"):
        return "harm (right thinking to the end, wrong with the exit)", empirical.get("accuracy_drop_events") or {}
    if mode in ("stop-precision", "cue"):
        return "wrong answers among exits", empirical.get("wrong_given_stop") or {}
    return None


def verdict(rate: float, ci95: tuple[float, float], bound: float) -> str:
    if rate <= bound:
        return f"within the bound of {fmt_level(bound)}"
    if ci95[0] > bound:
        return f"ABOVE the bound of {fmt_level(bound)}: its whole 95% interval lies above it"
    return f"above the bound of {fmt_level(bound)}, though its 95% interval reaches below it"


def guarantee_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Rows for a summary table: the guarantee in words, the realized loss against it, and its coverage."""
    guarantee = summary.get("guarantee") or {}
    if not guarantee:
        return []
    mode = guarantee.get("mode")
    if mode == "none":
        return [("guarantee", guarantee.get("guarantee", "none"))]
    bound, delta = _bound(guarantee), guarantee.get("delta")
    words = _WHAT.get(f"{mode}/{guarantee.get('loss')}", _WHAT.get(mode, f"mode {mode}"))
    stated = f"{words} <= {fmt_level(bound)}" if bound is not None else words
    if delta is not None:
        stated += f", with probability >= {fmt_level(1 - float(delta))} over the calibration draw"
    details = [f"mode {mode}"]
    if guarantee.get("n_problems"):
        details.append(f"{guarantee['n_problems']} calibration problems")
    if guarantee.get("threshold") is not None:
        levels = (guarantee.get("thresholds_by_level") or {}).values()
        details.append(f"threshold {fmt_threshold(float(guarantee['threshold']), levels)}")
    rows = [("guarantee", f"{stated} ({', '.join(details)})")]
    realized = _realized(summary)
    if realized is not None and bound is not None:
        what, event = realized
        if event.get("n"):
            rate, (lo, hi) = float(event["rate"]), event["ci95"]
            rows.append(
                ("realized", f"{what}: {fmt_level(rate)} of {event['n']} problems, 95% interval "
                 f"[{fmt_level(lo)}, {fmt_level(hi)}]: {verdict(rate, (lo, hi), bound)}")
            )
    if summary.get("live_check"):  # the anytime test of the bound over this run (experiments.live_check)
        rows.append(("live check", str(summary["live_check"]["message"])))
    rows.append(("covers this run", coverage_line(guarantee)))
    return rows


def uncovered_warning(guarantee: dict[str, Any] | None) -> str | None:
    """The one warning a command prints before its run when the probe's guarantee does not cover it (else None)."""
    if not guarantee or guarantee.get("covers_run") is not False:
        return None
    return f"[yellow]warning:[/yellow] the probe's guarantee does not cover this run: {escape(str(guarantee['coverage']))}"


def coverage_line(guarantee: dict[str, Any]) -> str:
    covered = guarantee.get("covers_run")
    if covered is None:
        return "not recorded"
    return ("yes: " if covered else "NO: ") + str(guarantee.get("coverage", ""))


def guarantee_grid(summary: dict) -> Table | None:
    """The guarantee in words, the realized loss against it and whether it covers the run (None: no exit run)."""
    rows = guarantee_rows(summary)
    if not rows:
        return None
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for name, value in rows:
        grid.add_row(f"{name}:", value)
    return grid
