"""Isodose labels: each level's label sits at its own angle on screen, and no label covers another."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lundprobe_gui.render.compose import LineLayer
from lundprobe_gui.render.label_layout import separate
from lundprobe_gui.render.overlay import outline
from lundprobe_gui.render.scene import spread_anchor


def _overlaps(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_labels_that_do_not_collide_stay_where_they_are():
    boxes = [(0, 0, 30, 12), (40, 0, 30, 12), (0, 20, 30, 12)]
    assert separate(boxes) == [0, 0, 20]


def test_a_stack_of_labels_on_one_spot_is_spread_one_under_another():
    boxes = [(10, 50, 30, 12)] * 4
    tops = separate(boxes, gap=1)
    assert tops[0] == 50  # the first keeps its place
    assert sorted(tops) == [24, 37, 50, 63]  # the others take the nearest free spots, above and below


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.slow
def test_no_two_labels_overlap_and_each_moves_as_little_as_it_can(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 9))
    boxes = [(float(rng.uniform(0, 60)), float(rng.uniform(0, 60)), float(rng.uniform(20, 40)), 14.0) for _ in range(n)]
    tops = separate(boxes, gap=0)
    placed = [(b[0], t, b[2], b[3]) for b, t in zip(boxes, tops)]
    for a, b in itertools.combinations(placed, 2):
        assert not _overlaps(a, b)
    # a label that collides with nothing keeps its place; one that moved was in someone's way
    for i, b in enumerate(boxes):
        if not any(_overlaps(b, p) for j, p in enumerate(placed) if j != i):
            assert tops[i] == b[1] or any(_overlaps(b, boxes[j]) for j in range(n) if j != i)


def _circle_line(row_mm: float, col_mm: float, radius_mm: float = 20.0) -> LineLayer:
    """The outline of a disc of ``radius_mm``, drawn on pixels of row_mm x col_mm."""
    rows = int(3 * radius_mm / row_mm)
    cols = int(3 * radius_mm / col_mm)
    r, c = np.mgrid[:rows, :cols]
    disc = ((r - rows / 2) * row_mm) ** 2 + ((c - cols / 2) * col_mm) ** 2 <= radius_mm**2
    return LineLayer.from_mask(outline(disc), (255, 0, 0))


@pytest.mark.parametrize("aspect", [(1.0, 1.0), (2.5, 0.4688), (0.4688, 2.5)])
def test_label_spots_follow_their_angle_in_mm_on_anisotropic_pixels(aspect):
    # sagittal and coronal pixels are 2.5 x 0.47 mm: angles taken in pixels would bunch the
    # labels of nested levels together on screen
    line = _circle_line(*aspect, radius_mm=60.0)
    centre_r = (line.rows.astype(float) * aspect[0]).mean()
    centre_c = (line.cols.astype(float) * aspect[1]).mean()
    angles = []
    for i in range(5):
        r, c = spread_anchor(line, i, aspect)
        angles.append(np.degrees(np.arctan2(r * aspect[0] - centre_r, c * aspect[1] - centre_c)))
        assert abs(angles[-1] - (-50.0 + 28.0 * i)) < 12.0, (i, angles)  # a pixel circle is not round
    assert np.all(np.diff(angles) > 15.0), angles
