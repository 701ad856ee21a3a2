"""Added path length on hand-made slices whose answers are worked out in the comments.

Convention (see lundprobe_gui.metrics.path_length): contour = pixel edges between inside and
outside; an edge between rows is s_x long, between columns s_y long; distances are measured
between edge midpoints; an edge counts when its distance is strictly above the tolerance.
In the comments, a test edge's position is given in pixel coordinates (row, col), edges lying
on half-integers.
"""

from __future__ import annotations

import numpy as np
import pytest

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.metrics.path_length import added_path_length, slice_path_lengths


def _square(shape=(30, 30), rows=(10, 20), cols=(10, 20)) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[rows[0] : rows[1], cols[0] : cols[1]] = True
    return m


REF = _square()  # 10 x 10 pixels, columns 10..19
GROWN = _square(cols=(10, 23))  # grown to the right by k = 3 pixels


def test_square_grown_on_one_side_isotropic() -> None:
    # Test right side: 10 edges at col 22.5, 3 mm from the reference right side -> 10 mm added.
    # Lengthened top side: edges at (9.5, 20), (9.5, 21), (9.5, 22). Nearest reference edge
    # midpoints: (10, 19.5) at 0.707, 1.58, 2.55 mm -> the last two are added; same at the
    # bottom. APL = 10 + 2 + 2 = 14 mm.
    # FNPL: reference right side at col 19.5, rows 10..19: within 1 mm of the test contour only
    # for rows 10 and 19 (0.707 mm to the test top/bottom edges at col 19/20); rows 11..18 are
    # 1.58 mm or more away -> 8 mm.
    apl, fnpl = slice_path_lengths(REF, GROWN, (1.0, 1.0), tolerance_mm=1.0)
    assert apl == pytest.approx(14.0)
    assert fnpl == pytest.approx(8.0)


def test_square_grown_with_tiny_tolerance_is_side_plus_growth() -> None:
    # With tau below every non-zero distance, the whole new contour counts: the grown side
    # (10 mm) plus the two 3-pixel extensions of top and bottom (2 x 3 mm); the whole old
    # right side (10 mm) is missing from the test contour.
    apl, fnpl = slice_path_lengths(REF, GROWN, (1.0, 1.0), tolerance_mm=0.1)
    assert apl == pytest.approx(16.0)
    assert fnpl == pytest.approx(10.0)


def test_square_grown_anisotropic() -> None:
    # s_y = 1.0 mm, s_x = 0.5 mm, tau = 1 mm. Grown right side: 10 edges of s_y = 1 mm at
    # 3 x 0.5 = 1.5 mm -> 10 mm. Top extension edges (s_x = 0.5 mm long) at cols 20, 21, 22:
    # distances to (10, 19.5) are sqrt(0.5^2 + (0.5 dc)^2) = 0.559, 0.901, 1.346 mm (dc = 0.5,
    # 1.5, 2.5 columns) -> only col 22 is added, at top and bottom: 2 x 0.5 mm.
    # APL = 11 mm. FNPL: reference right side rows 11..18 are >= sqrt(1.5^2 + 0.25^2) = 1.52 mm
    # from the test top/bottom and 1.5 mm from the test right side -> 8 x 1 mm.
    apl, fnpl = slice_path_lengths(REF, GROWN, (1.0, 0.5), tolerance_mm=1.0)
    assert apl == pytest.approx(11.0)
    assert fnpl == pytest.approx(8.0)


def test_distance_equal_to_tolerance_is_not_counted() -> None:
    # tau = 3 mm: the grown side is exactly 3 mm away (not strictly farther), the farthest
    # extension edge 2.55 mm; the old right side is exactly 3 mm from the new one.
    assert slice_path_lengths(REF, GROWN, (1.0, 1.0), tolerance_mm=3.0) == (0.0, 0.0)
    # Just below: the grown side counts (10 mm). Old right side rows r are
    # sqrt((r - 9.5)^2 + 0.5^2) from the test top (or bottom) edges and 3 mm from the new side,
    # so rows 13..16 (>= 3.54 mm and 3 mm) count: 4 mm.
    apl, fnpl = slice_path_lengths(REF, GROWN, (1.0, 1.0), tolerance_mm=2.99)
    assert apl == pytest.approx(10.0) and fnpl == pytest.approx(4.0)


def test_shifted_square_is_symmetric() -> None:
    # Shift by 3 columns. Test left side at col 12.5: rows 10 and 19 are 0.707 mm from the
    # reference top/bottom, rows 11..18 farther than 1 mm (8 mm). Test top edges at cols 21, 22
    # are added (2 + 2 mm), the right side at 3 mm (10 mm): APL = 22 mm, and FNPL the same by
    # symmetry.
    shifted = _square(cols=(13, 23))
    apl, fnpl = slice_path_lengths(REF, shifted, (1.0, 1.0), tolerance_mm=1.0)
    assert apl == pytest.approx(22.0)
    assert fnpl == pytest.approx(22.0)


def test_empty_reference_slice_counts_whole_contour() -> None:
    rect = _square(rows=(5, 9), cols=(3, 9))  # 4 rows x 6 columns
    empty = np.zeros_like(rect)
    spacing = (0.8, 0.5)
    perimeter = 2 * (4 * 0.8 + 6 * 0.5)
    assert slice_path_lengths(empty, rect, spacing) == pytest.approx((perimeter, 0.0))
    assert slice_path_lengths(rect, empty, spacing) == pytest.approx((0.0, perimeter))
    assert slice_path_lengths(empty, empty, spacing) == (0.0, 0.0)
    assert slice_path_lengths(rect, rect, spacing) == (0.0, 0.0)


@pytest.mark.slow
def test_contour_on_the_grid_border_is_closed() -> None:
    corner = _square(shape=(8, 8), rows=(0, 3), cols=(5, 8))  # touches the top and right borders
    empty = np.zeros_like(corner)
    apl, _ = slice_path_lengths(empty, corner, (0.7, 0.4))
    assert apl == pytest.approx(2 * (3 * 0.7 + 3 * 0.4))


@pytest.mark.slow
def test_volume_sums_slices_in_grid_coordinates() -> None:
    ref = np.zeros((8, 30, 30), dtype=bool)
    test = np.zeros_like(ref)
    ref[2], test[2] = REF, GROWN  # slice 2: APL 14, FNPL 8
    test[3] = _square(rows=(5, 9), cols=(3, 9))  # slice 3: test only, 2 (4 + 6) = 20
    ref[4] = _square(rows=(0, 2), cols=(0, 2))  # slice 4: reference only, at the border: 8
    ref[5], test[5] = REF, REF  # slice 5: identical
    spacing = (2.5, 1.0, 1.0)
    result = added_path_length(ref, test, spacing, tolerance_mm=1.0)
    assert result.slices == (2, 3, 4, 5)
    assert result.apl_by_slice_mm == pytest.approx((14.0, 20.0, 0.0, 0.0))
    assert result.fnpl_by_slice_mm == pytest.approx((8.0, 0.0, 8.0, 0.0))
    assert result.apl_mm == pytest.approx(34.0)
    assert result.fnpl_mm == pytest.approx(16.0)
    assert result.tolerance_mm == 1.0

    from_masks = added_path_length(Mask.from_full(ref), Mask.from_full(test), spacing, tolerance_mm=1.0)
    assert from_masks == result


@pytest.mark.slow
def test_empty_volumes() -> None:
    z = np.zeros((3, 10, 10), dtype=bool)
    r = added_path_length(z, z, (2.5, 1.0, 1.0))
    assert (r.apl_mm, r.fnpl_mm, r.slices) == (0.0, 0.0, ())
