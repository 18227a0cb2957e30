"""Point labels that never lie on each other: where to put each label of a scatter or line plot.

Owns `Box`, `merge_close` and `place_labels`, pure geometry in display
units (pixels), so they are tested without drawing anything. `merge_close`
joins the labels of points that would be drawn on top of each other (four
DEER settings at one spot become one label); `place_labels` puts each label
at the nearest free spot around its point, trying eight directions at
growing distances, never over another label, and off the markers and lines
where it can. Drawing the labels (and a leader line when one moved far) is
the plot's business (`cotexit.experiments.sweep`).

>>> boxes = place_labels([(100.0, 100.0), (102.0, 101.0)], [(40.0, 10.0), (40.0, 10.0)])
>>> boxes[0].overlaps(boxes[1])
False
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Box", "merge_close", "place_labels"]

_DIRECTIONS = ((1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1))  # E, NE, N, NW, W, SW, S, SE
_DISTANCES = (4.0, 10.0, 18.0, 28.0, 40.0, 55.0, 75.0, 100.0)  # pixels between a point and its label's near edge


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in display units: x grows to the right, y upwards."""

    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box, pad: float = 0.0) -> bool:
        return not (
            self.x1 + pad <= other.x0 or other.x1 + pad <= self.x0 or self.y1 + pad <= other.y0 or other.y1 + pad <= self.y0
        )

    def overlap_area(self, other: Box) -> float:
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        return w * h if w > 0 and h > 0 else 0.0

    def inside(self, bounds: Box) -> bool:
        return bounds.x0 <= self.x0 and self.x1 <= bounds.x1 and bounds.y0 <= self.y0 and self.y1 <= bounds.y1

    @staticmethod
    def around(x: float, y: float, half: float) -> Box:
        return Box(x - half, y - half, x + half, y + half)


def merge_close(anchors: Sequence[tuple[float, float]], radius: float) -> list[list[int]]:
    """Groups of indices whose anchors chain within `radius` of each other, in order of first index.

    Points that close are drawn on top of each other; their labels should be one ("p>=0.8/0.9").
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius!r}")
    parent = list(range(len(anchors)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(anchors)):
        for j in range(i):
            if math.dist(anchors[i], anchors[j]) <= radius:
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(anchors)):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])


def _box_at(x: float, y: float, size: tuple[float, float], direction: tuple[int, int], distance: float) -> Box:
    """The label box whose near side lies `distance` from (x, y) in `direction`."""
    w, h = size
    dx, dy = direction
    left = x + distance if dx > 0 else (x - distance - w if dx < 0 else x - w / 2)
    bottom = y + distance if dy > 0 else (y - distance - h if dy < 0 else y - h / 2)
    return Box(left, bottom, left + w, bottom + h)


def place_labels(
    anchors: Sequence[tuple[float, float]],
    sizes: Sequence[tuple[float, float]],
    *,
    obstacles: Sequence[Box] = (),
    bounds: Box | None = None,
    pad: float = 2.0,
) -> list[Box]:
    """One box per label (anchor point and (width, height), display units), placed greedily in order.

    Each label takes the first spot, nearest first, that overlaps no label placed before it (with `pad`
    between), no obstacle (markers, sampled line points) and stays inside `bounds`; when none is free of
    obstacles, the spot overlapping them least that is still free of labels and inside; only when every
    spot tried collides with a label does it take the one overlapping labels least.
    """
    if len(anchors) != len(sizes):
        raise ValueError(f"one size per anchor: got {len(anchors)} anchors and {len(sizes)} sizes")
    placed: list[Box] = []
    for (x, y), size in zip(anchors, sizes):
        best, best_cost = None, None
        for distance in _DISTANCES:
            for direction in _DIRECTIONS:
                box = _box_at(x, y, size, direction, distance)
                on_labels = sum(box.overlap_area(Box(p.x0 - pad, p.y0 - pad, p.x1 + pad, p.y1 + pad)) for p in placed)
                outside = 0.0 if bounds is None or box.inside(bounds) else 1.0
                on_data = sum(box.overlap_area(o) for o in obstacles)
                cost = (on_labels > 0, outside, on_labels, on_data > 0, on_data)
                if best_cost is None or cost < best_cost:
                    best, best_cost = box, cost
                if cost == (False, 0.0, 0.0, False, 0.0):
                    break
            if best_cost == (False, 0.0, 0.0, False, 0.0):
                break
        placed.append(best)
    return placed
