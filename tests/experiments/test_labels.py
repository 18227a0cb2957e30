"""Point labels never lie on each other (`cotexit.experiments.labels`), and the Pareto plot uses them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cotexit.experiments.labels import Box, merge_close, place_labels
from cotexit.experiments.sweep import SweepPoint, pareto_plot, read_sweep, write_sweep


def no_two_overlap(boxes: list[Box]) -> bool:
    return not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))


def test_labels_of_close_points_do_not_coincide():
    anchors = [(100.0, 100.0), (101.0, 100.5), (102.0, 101.0), (103.0, 99.0)]  # four points within 3 pixels
    boxes = place_labels(anchors, [(50.0, 10.0)] * 4)
    assert no_two_overlap(boxes)
    assert len({(b.x0, b.y0) for b in boxes}) == 4


@pytest.mark.parametrize("seed", range(5))
def test_no_overlap_in_a_crowded_random_plot(seed):
    rng = np.random.default_rng(seed)
    anchors = [tuple(p) for p in rng.uniform(100, 300, size=(25, 2))]
    sizes = [tuple(s) for s in rng.uniform([20, 8], [60, 12], size=(25, 2))]
    boxes = place_labels(anchors, sizes, bounds=Box(0, 0, 400, 400))
    assert no_two_overlap(boxes)
    assert all(b.inside(Box(0, 0, 400, 400)) for b in boxes)
    assert all(abs((b.x1 - b.x0) - w) < 1e-9 and abs((b.y1 - b.y0) - h) < 1e-9 for b, (w, h) in zip(boxes, sizes))


def test_labels_stay_off_markers_when_there_is_room():
    anchors = [(100.0 + 12 * k, 100.0 + 3 * k) for k in range(6)]  # a tight diagonal run of markers
    markers = [Box.around(x, y, 4.0) for x, y in anchors]
    boxes = place_labels(anchors, [(40.0, 9.0)] * 6, obstacles=markers, bounds=Box(0, 0, 400, 300))
    assert no_two_overlap(boxes)
    assert not any(b.overlaps(m) for b in boxes for m in markers)


def test_first_choice_is_right_beside_the_point():
    (box,) = place_labels([(50.0, 50.0)], [(30.0, 10.0)])
    assert box == Box(54.0, 45.0, 84.0, 55.0)


def test_merge_close_chains_points_within_the_radius():
    anchors = [(0.0, 0.0), (3.0, 0.0), (6.0, 0.0), (30.0, 0.0), (31.0, 1.0), (100.0, 100.0)]
    assert merge_close(anchors, 4.0) == [[0, 1, 2], [3, 4], [5]]
    assert merge_close(anchors, 0.0) == [[i] for i in range(6)]
    with pytest.raises(ValueError, match="radius"):
        merge_close(anchors, -1.0)


def test_sizes_must_match_anchors():
    with pytest.raises(ValueError, match="one size per anchor"):
        place_labels([(0.0, 0.0)], [])


def test_pareto_plot_redraws_from_the_csv(tmp_path):
    points = [
        SweepPoint("full", "-", 0.81, 293.0, 306.0, 0.0, 100),
        *[SweepPoint("probe", f"eps={e}", a, 90.0, c, 1.0, 100)
          for e, a, c in [(0.05, 0.79, 102.4), (0.04, 0.799, 105.9), (0.03, 0.804, 113.9)]],
        *[SweepPoint("deer", f"p>={p}", 0.516, 53.5, 65.2 + k * 0.1, 1.0, 100)
          for k, p in enumerate((0.8, 0.9, 0.95, 0.99))],
    ]
    csv_path, png = write_sweep(points, tmp_path / "sweep", "test")
    assert read_sweep(csv_path) == points
    again = pareto_plot(read_sweep(csv_path), tmp_path / "again.png", "test")
    assert png.read_bytes()[:8] == again.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="not a sweep file"):
        read_sweep(tmp_path / "missing.csv")
