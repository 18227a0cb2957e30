"""CueTable: validation, construction, subsets, and exits against a plain per-problem loop."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_cues import make_problems

from cotexit.calibration import CueTable
from cotexit.calibration.data import NEVER


def _loop_first_exit(table: CueTable, lam: float) -> np.ndarray:
    out = np.full(table.n_problems, -1)
    for i in range(table.n_problems):
        hits = np.flatnonzero(table.scores[table.cues_of(i)] >= lam)
        if hits.size:
            out[i] = hits[0]
    return out


def _tiny() -> CueTable:
    return CueTable.from_lists(
        scores=[[0.2, 0.9, 0.5], [], [0.7], [0.6, 0.6, 0.95]],
        forced_correct=[[False, True, True], [], [False], [True, False, True]],
        full_correct=[True, False, True, False],
        cue_tokens=[[10, 40, 50], [], [5], [1, 2, 3]],
        full_tokens=[60, 30, 9, 4],
    )


def test_from_lists_layout():
    t = _tiny()
    assert (t.n_problems, t.n_cues, len(t)) == (4, 7, 4)
    assert t.offsets.tolist() == [0, 3, 3, 4, 7]
    assert t.scores[t.cues_of(3)].tolist() == [0.6, 0.6, 0.95]
    assert t.has_tokens
    with pytest.raises(ValueError):
        t.scores[0] = 0.5  # read-only


def test_first_exit_small():
    t = _tiny()
    assert t.first_exit(0.6).tolist() == [1, -1, 0, 0]
    assert t.first_exit([0.0, 0.8, NEVER]).tolist() == [[0, 1, -1], [-1, -1, -1], [0, -1, -1], [0, 2, -1]]
    stopped, right = t.at_exit(0.8)
    assert stopped.tolist() == [True, False, False, True]
    assert right.tolist() == [True, False, False, True]


def test_exits_match_a_loop_on_random_tables():
    t = make_problems(300, seed=3)
    t = CueTable(  # coarse scores: many ties, exercising >= and the record sweep
        scores=np.round(t.scores, 1), forced_correct=t.forced_correct, offsets=t.offsets, full_correct=t.full_correct
    )
    grid = np.array([NEVER, 1.0, 0.95, 0.9, 0.5, 0.45, 0.1, 0.0])
    first = t.first_exit(grid)  # (P, G)
    curves = t.exit_curves().at(grid)
    for g, lam in enumerate(grid):
        expected = _loop_first_exit(t, lam)
        assert (first[:, g] == expected).all()
        stopped = expected >= 0
        idx = t.offsets[:-1] + np.maximum(expected, 0)
        wrong = stopped & ~t.forced_correct[np.minimum(idx, t.n_cues - 1)]
        assert curves["stops"][g] == stopped.sum()
        assert curves["wrong_stops"][g] == wrong.sum()
        assert curves["harms"][g] == (wrong & t.full_correct).sum()


def test_subset_keeps_problems_whole():
    t = _tiny()
    s = t.subset([3, 1, 0])
    assert s.offsets.tolist() == [0, 3, 3, 6]
    assert s.scores.tolist() == [0.6, 0.6, 0.95, 0.2, 0.9, 0.5]
    assert s.full_correct.tolist() == [False, False, True]
    assert s.cue_tokens.tolist() == [1, 2, 3, 10, 40, 50]
    assert s.full_tokens.tolist() == [4, 30, 60]
    assert t.subset(np.array([True, False, False, True])).n_problems == 2
    with pytest.raises(ValueError, match="indices must lie in"):
        t.subset([4])


def test_empty_problems_only():
    t = CueTable.from_lists([[], []], [[], []], [True, False])
    assert t.first_exit([0.0, 0.5]).tolist() == [[-1, -1], [-1, -1]]
    assert t.exit_curves().at(0.0)["stops"] == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"scores": [[0.1, 1.2]], "forced_correct": [[True, False]], "full_correct": [True]}, r"\[0, 1\]; cue 1"),
        ({"scores": [[0.1, np.nan]], "forced_correct": [[True, False]], "full_correct": [True]}, "cue 1"),
        ({"scores": [[0.1, 0.2]], "forced_correct": [[True]], "full_correct": [True]}, "problem 0: 2 scores but 1"),
        ({"scores": [[0.1]], "forced_correct": [[True]], "full_correct": [True, False]}, "full_correct has 2 problems"),
        ({"scores": [[0.1]], "forced_correct": [[2]], "full_correct": [True]}, "booleans"),
        ({"scores": [[0.1]], "forced_correct": [[True]], "full_correct": [True], "cue_tokens": [[3]]}, "come together"),
        (
            {
                "scores": [[0.1]],
                "forced_correct": [[True]],
                "full_correct": [True],
                "cue_tokens": [[30]],
                "full_tokens": [10],
            },
            "after the end of thinking",
        ),
        (
            {
                "scores": [[0.1, 0.2]],
                "forced_correct": [[True, True]],
                "full_correct": [True],
                "cue_tokens": [[5, 3]],
                "full_tokens": [10],
            },
            "must not decrease",
        ),
    ],
)
def test_bad_inputs_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CueTable.from_lists(**kwargs)


def test_bad_offsets():
    with pytest.raises(ValueError, match="offsets must start at 0"):
        CueTable(scores=[0.1, 0.2], forced_correct=[True, False], offsets=[0, 3], full_correct=[True])
