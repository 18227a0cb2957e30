"""The three modes against MAPIE and a padded-matrix reference; errors; the record, evaluation, splits, plot."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy.stats import binom
from synthetic_cues import make_problems

from cotexit.calibration import Calibration, CueTable, calibrate, evaluate, risk_plot, split_by_problem
from cotexit.calibration.data import NEVER
from cotexit.calibration.ltt import STOP_PRECISION_GRID, fixed_sequence


@pytest.fixture(scope="module")
def table() -> CueTable:
    return make_problems(400, seed=7)


def _reference_outcomes(t: CueTable, grid: np.ndarray) -> np.ndarray:
    """(stops, wrong stops, harms) per threshold, from a padded (P, max cues) matrix: (G, 3)."""
    width = max(1, int(np.diff(t.offsets).max()))
    scores = np.full((t.n_problems, width), -1.0)  # (P, W): padding never reaches a threshold >= 0
    right = np.zeros((t.n_problems, width), dtype=bool)
    for i in range(t.n_problems):
        cues = t.cues_of(i)
        scores[i, : cues.stop - cues.start] = t.scores[cues]
        right[i, : cues.stop - cues.start] = t.forced_correct[cues]
    hit = scores[None, :, :] >= grid[:, None, None]  # (G, P, W)
    stops = hit.any(axis=2)  # (G, P)
    first = hit.argmax(axis=2)  # (G, P)
    wrong = stops & ~np.take_along_axis(np.broadcast_to(right, hit.shape), first[..., None], axis=2)[..., 0]
    return np.stack([stops.sum(1), wrong.sum(1), (wrong & t.full_correct).sum(1)], axis=1)


# --- cue mode -------------------------------------------------------------------------------------------


def test_cue_mode_matches_mapie_prediction_sets(table):
    from mapie.classification import SplitConformalClassifier
    from sklearn.base import BaseEstimator, ClassifierMixin

    class ScoreAsProba(ClassifierMixin, BaseEstimator):
        """A prefit 'classifier' whose feature is the probe score: predict_proba = [1 - s, s]."""

        def fit(self, X, y):
            self.classes_ = np.array([0, 1])
            return self

        def predict_proba(self, X):
            s = np.asarray(X, dtype=float)[:, 0]
            return np.stack([1.0 - s, s], axis=1)

        def predict(self, X):
            return (np.asarray(X)[:, 0] >= 0.5).astype(int)

    alpha = 0.1
    label = table.forced_correct.astype(int)
    test_scores = np.random.default_rng(0).uniform(0, 1, 5000)[:, None]
    contains = []
    for cls in (0, 1):  # label-conditional: conformalize on each label's cues
        mapie = SplitConformalClassifier(ScoreAsProba().fit(None, None), confidence_level=1 - alpha, prefit=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "conformalization dataset has less labels than training"
            mapie.conformalize(table.scores[label == cls][:, None], label[label == cls])
        _, sets = mapie.predict_set(test_scores)  # (N, 2, 1)
        contains.append(sets[:, cls, 0])
    mapie_exit = ~contains[0] & contains[1]  # the set is {right}
    cal = calibrate(table, "cue", alpha=alpha)
    assert cal.threshold is not None
    assert (cal.should_exit(test_scores[:, 0]) == mapie_exit).all()
    assert 0.05 < mapie_exit.mean() < 0.95


def test_cue_mode_bound_on_calibration_data(table):
    cal = calibrate(table, "cue", alpha=0.2)
    wrong = table.scores[~table.forced_correct]
    exits = (wrong >= cal.threshold).sum()
    assert (1 + exits) / (wrong.size + 1) <= 0.2  # the conformal bound at the threshold
    assert (1 + (wrong >= np.max(wrong[wrong < cal.threshold])).sum()) / (wrong.size + 1) > 0.2  # and it is tight
    assert "P(the controller exits at the cue | the answer forced there is wrong) <= 0.2" in cal.guarantee
    assert "dependent" in cal.guarantee and cal.delta is None


def test_cue_mode_too_few_wrong_cues():
    t = CueTable.from_lists([[0.1, 0.9]] * 5, [[False, True]] * 5, [True] * 5)
    with pytest.raises(ValueError, match="needs at least 19 calibration cues whose forced answer is wrong; .* has 5"):
        calibrate(t, "cue", alpha=0.05)


# --- stop-precision -------------------------------------------------------------------------------------------


def test_stop_precision_matches_a_reference(table):
    from mapie.risk_control import control_fwer

    alpha, delta = 0.15, 0.1
    cal = calibrate(table, "stop-precision", alpha=alpha, delta=delta)
    grid = np.array(sorted(STOP_PRECISION_GRID, reverse=True))
    counts = _reference_outcomes(table, grid)  # (K, 3)
    p = np.where(counts[:, 0] > 0, binom.cdf(counts[:, 1], counts[:, 0], alpha), 1.0)
    rejected = control_fwer(p, delta, "bonferroni_holm")
    assert rejected.size > 0
    assert cal.threshold == grid[rejected].min()
    assert cal.n_tested == grid.size and len(cal.candidates) == grid.size
    assert np.allclose(cal.p_values, p)
    assert list(cal.n_effective) == counts[:, 0].tolist()


def test_stop_precision_too_few_problems(table):
    with pytest.raises(ValueError, match=r"over 105 thresholds needs at least 67 calibration problems.*got 50"):
        calibrate(table.subset(np.arange(50)), "stop-precision", alpha=0.1, delta=0.1)


# --- accuracy-drop -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p_value", ["binomial", "hoeffding-bentkus"])
def test_accuracy_drop_matches_a_reference(table, p_value):
    eps, delta = 0.08, 0.1
    cal = calibrate(table, "accuracy-drop", epsilon=eps, delta=delta, p_value=p_value)
    grid = np.concatenate([[NEVER], np.unique(table.scores)[::-1]])  # every score, strict to lenient
    harms = _reference_outcomes(table, grid)[:, 2]
    from cotexit.calibration.pvalues import p_value as pv

    n_rejected = fixed_sequence(pv(p_value, harms, table.n_problems, eps), delta)
    assert n_rejected >= 2
    reference_threshold = grid[n_rejected - 1]
    # the reference grid has every score, ours only the record scores: the exits must be the same
    assert (table.first_exit(cal.threshold) == table.first_exit(reference_threshold)).all()
    assert evaluate(cal, table)["harm_rate"] == harms[n_rejected - 1] / table.n_problems
    assert cal.certified[0] and cal.candidates[0] == NEVER
    assert "expected accuracy drop against thinking to the end is <= 0.08" in cal.guarantee


def test_hoeffding_bentkus_is_more_conservative(table):
    exact = calibrate(table, "accuracy-drop", epsilon=0.08)
    hb = calibrate(table, "accuracy-drop", epsilon=0.08, p_value="hoeffding-bentkus")
    assert hb.threshold >= exact.threshold


def test_accuracy_drop_too_few_problems(table):
    with pytest.raises(ValueError, match="needs at least 45 calibration problems.*got 44"):
        calibrate(table.subset(np.arange(44)), "accuracy-drop", epsilon=0.05, delta=0.1)
    calibrate(table.subset(np.arange(45)), "accuracy-drop", epsilon=0.05, delta=0.1)


def test_no_valid_threshold_means_never_exit():
    t = CueTable.from_lists([[0.9, 0.9]] * 100, [[False, False]] * 100, [True] * 100)
    for mode, level in [("accuracy-drop", {"epsilon": 0.05}), ("stop-precision", {"alpha": 0.1})]:
        cal = calibrate(t, mode, **level)
        assert cal.threshold is None and not cal.should_exit(1.0)
        assert "never exits" in cal.guarantee
        assert evaluate(cal, t)["exit_rate"] == 0.0


# --- the entry point and the record ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, kwargs, message",
    [
        ("accuracy_drop", {"epsilon": 0.05}, "did you mean 'accuracy-drop'"),
        ("lynx", {"alpha": 0.1}, "choose one of"),
        ("accuracy-drop", {}, "needs epsilon"),
        ("accuracy-drop", {"alpha": 0.1, "epsilon": 0.1}, "takes epsilon, not alpha"),
        ("cue", {}, "needs alpha"),
        ("stop-precision", {"epsilon": 0.1}, "needs alpha"),
        ("stop-precision", {"alpha": 0.1, "epsilon": 0.1}, "takes alpha, not epsilon"),
        ("cue", {"alpha": 1.5}, "alpha must lie in"),
        ("accuracy-drop", {"epsilon": 0.05, "delta": 0.0}, "delta must lie in"),
        ("accuracy-drop", {"epsilon": 0.05, "p_value": "wsr"}, "unknown p_value"),
    ],
)
def test_calibrate_errors(table, mode, kwargs, message):
    with pytest.raises(ValueError, match=message):
        calibrate(table, mode, **kwargs)


def test_calibration_round_trips_through_json(table):
    for cal in [
        calibrate(table, "cue", alpha=0.1),
        calibrate(table, "stop-precision", alpha=0.15),
        calibrate(table, "accuracy-drop", epsilon=0.08),
    ]:
        again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
        assert again == cal
        assert len(cal.candidates) <= 200
        assert list(cal.candidates) == sorted(cal.candidates, reverse=True)


def test_evaluate_on_a_hand_table():
    t = CueTable.from_lists(
        scores=[[0.2, 0.9], [0.8], [0.1], [0.95, 0.3]],
        forced_correct=[[False, True], [False], [False], [True, True]],
        full_correct=[True, True, False, False],
        cue_tokens=[[10, 50], [20], [5], [30, 60]],
        full_tokens=[100, 100, 100, 100],
    )
    m = evaluate(0.85, t)  # exits: problem 0 at cue 1 (right), problem 3 at cue 0 (right)
    assert m["exit_rate"] == 0.5 and m["exit_rate_n"] == 4
    assert m["accuracy_full"] == 0.5 and m["accuracy_controlled"] == 0.75
    assert m["harm_rate"] == 0.0 and m["gain_rate"] == 0.25 and m["accuracy_drop"] == -0.25
    assert m["stop_precision"] == 1.0 and m["stop_precision_n"] == 2
    assert m["false_exit_rate"] == 0.0 and m["false_exit_rate_n"] == 3
    assert m["tokens_saved_pct"] == pytest.approx(100 * (1 - (50 + 100 + 100 + 30) / 400))
    lo, hi = m["exit_rate_ci"]
    assert lo < 0.5 < hi
    m = evaluate(0.5, t)  # problem 1 exits wrong at cue 0
    assert m["harm_rate"] == 0.25 and m["stop_precision"] == pytest.approx(2 / 3)
    assert m["false_exit_rate"] == pytest.approx(1 / 3)
    assert evaluate(None, t)["stop_precision"] is None


def test_split_by_problem():
    train, calib = split_by_problem(101, 0.3, seed=5)
    assert calib.size == 30 and train.size == 71
    assert np.intersect1d(train, calib).size == 0
    assert np.array_equal(np.union1d(train, calib), np.arange(101))
    again = split_by_problem(101, 0.3, seed=5)
    assert np.array_equal(again[1], calib) and not np.array_equal(split_by_problem(101, 0.3, seed=6)[1], calib)
    with pytest.raises(ValueError, match="calib_fraction"):
        split_by_problem(10, 1.0, seed=0)
    with pytest.raises(ValueError, match="n_problems"):
        split_by_problem(1, 0.5, seed=0)


@pytest.mark.parametrize("mode, level", [("cue", "alpha"), ("stop-precision", "alpha"), ("accuracy-drop", "epsilon")])
def test_risk_plot_writes_a_png(table, tmp_path, mode, level):
    cal = calibrate(table, mode, **{level: 0.1})
    path = risk_plot(cal, tmp_path / "plots" / f"{mode}.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="PNG"):
        risk_plot(cal, tmp_path / "x.pdf")
