"""One risk budget over both exits: certify (probe threshold, depth setting) pairs together.

The run with both exits on (the probe exits at the first cue with score >=
lambda; every token exits layers under depth setting tau) is compared with the
run with neither (thinking to the end, every layer). Problem i's loss is

    L_i(lambda, tau) = 1  if the run with neither exit is right and the run with both is wrong,

so E[L] bounds the expected accuracy drop against the run with neither exit.
Each depth setting is one `DepthArm`: the probe's scores and forced-exit labels
at every cue of that setting's own runs, whether its run to the end is right,
and what each exit point costs. One arm has no depth exit; its runs to the end
are the reference.

The procedure (family-wise error <= delta over the whole grid):
- Bonferroni across depth settings: each of the D arms is one family, tested at delta / D;
- fixed-sequence within an arm: lambda from strict to lenient ("never exit" first, then
  every distinct score of that arm's cues, descending), binomial p-values for
  H0: E[L] > epsilon, stopping at the first non-rejection.
Every pair rejected this way is certified simultaneously, so any rule may
choose among them; `calibrate_joint` takes the pair that saves the most
estimated compute (FLOPs of the problem's tokens at its mean layers per token).
Exact layer exit reproduces the run without depth exits token for token, so its
pairs are the no-depth arm's and need no family of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cotexit.calibration.data import NEVER, CueTable
from cotexit.calibration.digits import format_threshold
from cotexit.calibration.ltt import fixed_sequence
from cotexit.calibration.pvalues import P_VALUES, min_samples, p_value
from cotexit.calibration.shortfall import TooFewSamples, looser_levels


@dataclass(frozen=True, eq=False)
class DepthArm:
    """The calibration runs of one depth setting, scored by the probe being calibrated.

    `table.full_correct` is whether this setting's run to the end is right (not the reference).
    """

    name: str
    table: CueTable
    cue_cost: np.ndarray  # (C,) estimated FLOPs of the run that exits at this cue (thinking before it + forced answer)
    end_cost: np.ndarray  # (P,) estimated FLOPs of this setting's run to the end
    layer_exit: dict[str, Any] | None = None  # the depth setting (a LayerExitConfig's JSON); None: every layer
    mean_layers: float | None = None  # layers per generated token in these runs (for reports only)

    def __post_init__(self) -> None:
        cue_cost, end_cost = np.asarray(self.cue_cost, dtype=np.float64), np.asarray(self.end_cost, dtype=np.float64)
        if cue_cost.shape != (self.table.n_cues,) or end_cost.shape != (self.table.n_problems,):
            raise ValueError(
                f"arm {self.name!r}: cue_cost needs {self.table.n_cues} entries and end_cost {self.table.n_problems}, "
                f"got {cue_cost.shape} and {end_cost.shape}"
            )
        if (cue_cost < 0).any() or (end_cost < 0).any() or not (np.isfinite(cue_cost).all() and np.isfinite(end_cost).all()):
            raise ValueError(f"arm {self.name!r}: costs must be finite and >= 0")
        object.__setattr__(self, "cue_cost", cue_cost)
        object.__setattr__(self, "end_cost", end_cost)

    def curves(self, reference_correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(candidates strict to lenient (K,), harms (K,), total cost (K,)), exact at every threshold at once.

        Candidates are "never" and then every record score (a cue that raises its problem's running
        maximum): only there can a problem's exit move. At lambda a problem exits at its lowest record
        >= lambda, so each total is the sum at "never" plus, for every record >= lambda, the change from
        exiting at the next record up (or not at all) to exiting at this one: one sort and one cumsum.
        """
        t = self.table
        reference_correct = np.asarray(reference_correct, dtype=bool)
        end_harm = (reference_correct & ~t.full_correct).astype(np.int64)  # (P,)
        if t.n_cues == 0:
            return np.array([NEVER]), np.array([end_harm.sum()]), np.array([self.end_cost.sum()])
        problem = np.repeat(np.arange(t.n_problems), np.diff(t.offsets))  # (C,)
        record = np.ones(t.n_cues, dtype=bool)
        same = problem[1:] == problem[:-1]
        record[1:] = ~same | (t.scores[1:] > t._prefix_max[:-1])
        idx = np.flatnonzero(record)  # (R,) ascending value within each problem
        rp = problem[idx]
        harm = (reference_correct[rp] & ~t.forced_correct[idx]).astype(np.int64)  # (R,)
        cost = self.cue_cost[idx]
        top = np.ones(idx.size, dtype=bool)
        top[:-1] = rp[1:] != rp[:-1]  # the problem's highest record: above it, no exit
        up_harm = np.where(top, end_harm[rp], np.append(harm[1:], 0))  # outcome one step stricter
        up_cost = np.where(top, self.end_cost[rp], np.append(cost[1:], 0.0))
        values = t.scores[idx]
        order = np.argsort(-values, kind="stable")  # strict to lenient
        distinct = np.unique(values)[::-1]  # (U,) descending
        last = np.searchsorted(-values[order], -distinct, side="right") - 1  # last record at each value
        harms = end_harm.sum() + np.cumsum((harm - up_harm)[order])[last]
        costs = self.end_cost.sum() + np.cumsum((cost - up_cost)[order])[last]
        return (
            np.concatenate([[NEVER], distinct]),
            np.concatenate([[end_harm.sum()], harms]).astype(np.int64),
            np.concatenate([[self.end_cost.sum()], costs]),
        )


@dataclass(frozen=True)
class ArmResult:
    name: str
    layer_exit: dict[str, Any] | None
    level: float  # the family's significance level, delta / D
    n_tested: int
    n_certified: int  # leading candidates rejected (0: not even "never exit" with this depth setting)
    threshold: float | None  # most lenient certified lambda; None: never exit (or nothing certified)
    harm_rate: float | None  # on the calibration problems, at that threshold
    p_value: float | None
    compute_saved: float | None  # estimated, at that threshold, against the reference

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class JointCalibration:
    epsilon: float
    delta: float
    p_value: str
    n_problems: int
    arm: str | None  # the chosen depth setting; None: nothing certified, neither exit is on
    layer_exit: dict[str, Any] | None
    threshold: float | None  # the chosen probe threshold; None: the probe never exits
    compute_saved: float  # estimated, on the calibration problems, for the chosen pair
    harm_rate: float  # on the calibration problems, for the chosen pair
    arms: tuple[ArmResult, ...]
    guarantee: str
    method: str = "joint: Bonferroni across depth settings, fixed-sequence over the probe threshold within each"
    only: str | None = None  # the choice was restricted to this depth setting's certified pairs


def _check(arms: Sequence[DepthArm], reference_correct: np.ndarray, epsilon: float, delta: float, kind: str) -> int:
    if not arms:
        raise ValueError("the joint calibration needs at least one depth setting")
    if not 0.0 < epsilon < 1.0 or not 0.0 < delta < 1.0:
        raise ValueError(f"epsilon and delta must lie in (0, 1), got {epsilon!r} and {delta!r}")
    if kind not in P_VALUES:
        raise ValueError(f"unknown p_value {kind!r}; choose one of {P_VALUES}")
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise ValueError(f"depth settings need distinct names, got {names}")
    n = reference_correct.size
    sizes = {a.name: a.table.n_problems for a in arms if a.table.n_problems != n}
    if sizes:
        raise ValueError(f"every depth setting must hold the reference's {n} problems; {sizes}")
    need = min_samples(epsilon, delta / len(arms))
    if n < need:
        fewer = ""
        if len(arms) > 1 and min_samples(epsilon, delta / (len(arms) - 1)) <= n:
            fewer = f", or {len(arms) - 1} depth settings instead of {len(arms)}"
        raise TooFewSamples(
            f"a joint calibration over {len(arms)} depth settings at epsilon={epsilon}, delta={delta} needs at least "
            f"{need} problems (a Bonferroni share of delta each); got {n}: collect {need - n} more problems for "
            f"every depth setting{fewer}",
            need=need, got=n, unit="problems", looser=looser_levels(n, "epsilon", epsilon, delta, families=len(arms)),
        )
    return n


def calibrate_joint(
    arms: Sequence[DepthArm],
    reference_correct: np.ndarray,
    reference_cost: np.ndarray,
    epsilon: float,
    delta: float = 0.1,
    *,
    p_value_kind: str = "binomial",
    only: str | None = None,
) -> JointCalibration:
    """The certified (lambda, depth setting) pair that saves the most estimated compute; see the module docstring.

    `only` restricts the choice (not the tests) to one depth setting's certified pairs: every certified
    pair of the grid is covered at once, so any rule may choose among them.
    """
    reference_correct = np.asarray(reference_correct, dtype=bool)
    n = _check(arms, reference_correct, epsilon, delta, p_value_kind)
    if only is not None and only not in [a.name for a in arms]:
        raise ValueError(f"no depth setting named {only!r}; the grid has {[a.name for a in arms]}")
    base = float(np.sum(reference_cost))
    level = delta / len(arms)
    results, best = [], None
    for arm in arms:
        candidates, harms, cost = arm.curves(reference_correct)
        p = p_value(p_value_kind, harms, n, epsilon)  # (K,)
        k = fixed_sequence(p, level)
        if k == 0:
            results.append(ArmResult(arm.name, arm.layer_exit, level, 1, 0, None, None, float(p[0]), None))
            continue
        saved = 1.0 - cost[:k] / base if base > 0 else np.zeros(k)  # (k,) non-decreasing as lambda falls, mostly
        j = k - 1 - int(np.argmax(saved[::-1]))  # the most saving certified lambda; ties: the most lenient
        threshold = None if j == 0 else float(candidates[j])
        result = ArmResult(
            arm.name, arm.layer_exit, level, min(k + 1, candidates.size), k, threshold,
            float(harms[j] / n), float(p[j]), float(saved[j]),
        )
        results.append(result)
        if (only is None or arm.name == only) and (best is None or result.compute_saved > best.compute_saved + 1e-12):
            best = result
    if best is None:
        where = "" if only is None else f" with depth setting {only}"
        guarantee = (
            f"No pair{where} was certified at epsilon={epsilon}, delta={delta}: neither exit may be turned on with "
            "this guarantee."
        )
        return JointCalibration(
            epsilon, delta, p_value_kind, n, None, None, None, 0.0, 0.0, tuple(results), guarantee, only=only
        )
    shown = None if best.threshold is None else format_threshold(best.threshold, digits=6)
    where = "never exits" if shown is None else f"exits at the first cue with score >= {shown}"
    depth = "every layer" if best.layer_exit is None else f"depth setting {best.name}"
    chooser = "" if only is None else f" (chosen among the certified pairs of depth setting {only} only)"
    guarantee = (
        f"With probability >= {1 - delta:g} over the draw of the {n} calibration problems, for a new problem from the "
        f"same distribution: P(the run with neither exit is right and the run that {where}, with {depth}, is wrong) "
        f"<= {epsilon}; hence the expected accuracy drop of both exits together against neither is <= {epsilon}. "
        f"The bound holds for every certified pair of the grid at once ({len(arms)} depth settings, Bonferroni "
        f"across them, fixed-sequence within each), so choosing the pair that saves the most compute{chooser} keeps it."
    )
    return JointCalibration(
        epsilon, delta, p_value_kind, n, best.name, best.layer_exit, best.threshold, best.compute_saved,
        best.harm_rate, tuple(results), guarantee, only=only,
    )
