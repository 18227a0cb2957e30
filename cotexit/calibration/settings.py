"""One certificate over several decoding settings: an intersection-union test per threshold.

Owns `calibrate_over_settings` and its result. A probe runs at more than one
setting (greedy and sampled, several temperatures, another dtype), and the
problems of each setting come from their own distribution. The guarantee
asked for is about the worst of them: with probability >= 1 - delta over the
calibration draw, the chosen threshold lambda has R_s(lambda) <= epsilon in
every setting s at once, where R_s is the harm rate (thinking to the end is
right and the run that exits at the first cue with score >= lambda is wrong)
on problems of setting s.

The procedure. Each setting keeps its own calibration problems (a problem
belongs to one setting). For a candidate lambda, setting s tests H_s(lambda):
R_s(lambda) > epsilon with the binomial (or Hoeffding-Bentkus) p-value p_s of
its own harm count, exactly as `ltt.calibrate_accuracy_drop` does for one
setting. The hypothesis "lambda is bad somewhere", H(lambda) = union over s of
H_s(lambda), is tested by the intersection-union test p(lambda) = max_s
p_s(lambda): it rejects only when every setting's own test rejects. It is
valid at level delta: if lambda is bad, some setting s* has H_s*(lambda) true,
and P(max_s p_s <= delta) <= P(p_s* <= delta) <= delta. The candidates (every
record score of any setting, and "never") are then tested by fixed-sequence
from strict to lenient, each at level delta, and the most lenient one
rejected before the first non-rejection is chosen; as in the one-setting
case, the chosen lambda is bad only if the first bad candidate in the
sequence was rejected, which happens with probability <= delta. So the
guarantee holds for the worst setting, with no correction for the number of
settings (the price is that every setting must pass).

What does not work, and why it is not done here (the tests show both
violate): calibrating each setting alone and running with the most lenient
of their thresholds (each certificate holds for its own threshold only), and
pooling the settings' problems into one calibration (that bounds the harm of
the mixture, which a rare, riskier setting barely moves).

The same procedure serves `answer-change` (`mode="answer-change"`): each
setting's table then holds agreement labels (`answer_change.answer_change_table`)
and the harm counted is a changed answer, as in the one-setting mode.

>>> import numpy as np
>>> from cotexit.calibration.data import CueTable
>>> easy = CueTable.from_lists([[0.9]] * 60, [[True]] * 60, [True] * 60)
>>> calibrate_over_settings({"greedy": easy, "t0.6": easy}, epsilon=0.05).calibration.threshold
0.9
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cotexit.calibration.answer_change import MODE as ANSWER_CHANGE
from cotexit.calibration.answer_change import answer_change_table
from cotexit.calibration.data import NEVER, CueTable
from cotexit.calibration.digits import format_threshold
from cotexit.calibration.ltt import _check_levels, fixed_sequence
from cotexit.calibration.pvalues import min_samples, p_value
from cotexit.calibration.result import Calibration, thin_curve
from cotexit.calibration.shortfall import TooFewSamples, looser_levels


@dataclass(frozen=True)
class SettingRecord:
    """One setting's share of the certificate: its problems, and its own harm rate and p-value at the threshold."""

    name: str
    n_problems: int
    n_cues: int
    risk: float  # empirical harm rate at the chosen threshold (0 when it never exits)
    p_value: float  # this setting's p-value at the chosen threshold (1 when it never exits)


@dataclass(frozen=True)
class SettingsCalibration:
    """The chosen threshold (a `Calibration` whose curve is the worst setting's) and each setting's record."""

    calibration: Calibration
    settings: tuple[SettingRecord, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"calibration": self.calibration.to_dict(), "settings": [asdict(s) for s in self.settings]}


MODES = ("accuracy-drop", ANSWER_CHANGE)


def calibrate_over_settings(
    tables: Mapping[str, CueTable],
    epsilon: float,
    delta: float = 0.1,
    *,
    p_value_kind: str = "binomial",
    mode: str = "accuracy-drop",
) -> SettingsCalibration:
    """A threshold whose harm rate is <= `epsilon` in every setting of `tables` at once, w.p. >= 1 - `delta`.

    `tables` maps a setting's name (e.g. "temperature-0.6") to the calibration problems collected with it. With
    `mode="answer-change"` their labels are agreement labels and the bounded harm is a changed answer.
    """
    if mode not in MODES:
        raise ValueError(f"calibration over settings takes mode {' or '.join(MODES)}, not {mode!r}")
    _check_levels("epsilon", epsilon, delta, p_value_kind)
    if not tables:
        raise ValueError("give at least one setting's calibration table")
    for name, table in tables.items():
        if not isinstance(table, CueTable):
            raise TypeError(f"setting {name!r}: expected a CueTable, got {type(table).__name__}")
    if mode == ANSWER_CHANGE:
        tables = {name: answer_change_table(table) for name, table in tables.items()}
    need = min_samples(epsilon, delta)
    short = {name: t.n_problems for name, t in tables.items() if t.n_problems < need}
    if short:
        name, got = min(short.items(), key=lambda kv: kv[1])
        raise TooFewSamples(
            f"{mode} over settings with epsilon={epsilon}, delta={delta} needs at least {need} calibration "
            f"problems in every setting (each setting's own test must reject); "
            + ", ".join(f"{k!r} has {v}" for k, v in short.items()),
            need=need, got=got, unit=f"calibration problems in setting {name!r}",
            looser=looser_levels(got, "epsilon", epsilon, delta),
        )
    names = list(tables)
    curves = {name: tables[name].exit_curves() for name in names}
    records = np.unique(np.concatenate([c.thresholds for c in curves.values()]))
    candidates = np.concatenate([[NEVER], records[::-1]])  # (K,) strict to lenient
    harms = np.stack([curves[name].at(candidates)["harms"] for name in names])  # (S, K)
    n = np.asarray([tables[name].n_problems for name in names])[:, None]  # (S, 1)
    per_setting = p_value(p_value_kind, harms, n, epsilon)  # (S, K)
    p = per_setting.max(axis=0)  # (K,) intersection-union: every setting must reject
    n_rejected = fixed_sequence(p, delta)
    chosen = n_rejected - 1 if n_rejected >= 2 else None
    threshold = float(candidates[chosen]) if chosen is not None else None
    risks = harms / n  # (S, K)
    worst = risks.max(axis=0)  # (K,)
    settings_text = ", ".join(f"{name} ({tables[name].n_problems} problems)" for name in names)
    if threshold is None:
        outcome = "the answer never changes" if mode == ANSWER_CHANGE else "no accuracy is lost"
        guarantee = f"No threshold passed every setting's first test: the controller never exits, so {outcome}."
    else:
        shown = format_threshold(threshold, candidates[max(chosen - 1, 0) : chosen + 2], digits=6)
        if mode == ANSWER_CHANGE:
            event = (f"the answer of the run that exits at the first cue with score >= {shown} differs from the answer "
                     "the same run gives thinking to the end")
            hence = (f"answers are compared by canonical form, so the expected accuracy drop against thinking to the "
                     f"end is <= {epsilon} in the worst of them under any grading; no gold answer enters the bound.")
        else:
            event = f"thinking to the end is right and the run that exits at the first cue with score >= {shown} is wrong"
            hence = f"hence the expected accuracy drop against thinking to the end is <= {epsilon} in the worst of them."
        guarantee = (
            f"With probability >= {1 - delta:g} over the draw of the calibration problems of every setting "
            f"({settings_text}): in each of these settings at once, for a new problem of that setting, P({event}) "
            f"<= {epsilon}; {hence}"
        )
    keep = thin_curve(candidates.size, chosen)
    calibration = Calibration(
        mode=mode,
        threshold=threshold,
        alpha=None,
        epsilon=epsilon,
        delta=delta,
        n_problems=int(n.sum()),
        n_cues=sum(t.n_cues for t in tables.values()),
        guarantee=guarantee,
        method=(
            f"Learn-then-Test over {len(names)} settings: intersection-union test (the largest of the settings' "
            f"{p_value_kind} p-values), fixed-sequence from strict to lenient"
        ),
        candidates=tuple(float(x) for x in candidates[keep]),
        risks=tuple(float(x) for x in worst[keep]),
        p_values=tuple(float(x) for x in p[keep]),
        n_effective=(int(n.min()),) * keep.size,
        certified=tuple(bool(x) for x in keep < n_rejected),
        n_tested=min(n_rejected + 1, candidates.size),
    )
    at = chosen if chosen is not None else 0  # "never": no exits, risk 0, p-value 1
    settings = tuple(
        SettingRecord(
            name=name,
            n_problems=tables[name].n_problems,
            n_cues=tables[name].n_cues,
            risk=float(risks[s, at]),
            p_value=float(per_setting[s, at]) if chosen is not None else 1.0,
        )
        for s, name in enumerate(names)
    )
    return SettingsCalibration(calibration, settings)
