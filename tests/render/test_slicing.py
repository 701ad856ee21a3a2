"""Display order, display <-> voxel maps, pixel aspect and orientation letters."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lundprobe_gui.core.geometry import Geometry
from lundprobe_gui.core.mask import Mask
from lundprobe_gui.core.orientation import Orientation, axis_aligned_directions
from lundprobe_gui.render.slicing import (
    cropped_slice,
    display_shape,
    display_slice,
    display_to_voxel,
    orientation_labels,
    pixel_aspect,
    voxel_to_display,
)

SHAPE = (7, 5, 6)  # (z, y, x), all different so swapped axes show


def _coded_volume() -> np.ndarray:
    """Voxel value encodes its own (z, y, x) index."""
    z, y, x = np.indices(SHAPE)
    return z * 10000 + y * 100 + x


def _plane(vol: np.ndarray, axis: int, index: int) -> np.ndarray:
    return np.take(vol, index, axis=axis)


def test_axial_is_shown_as_stored():
    vol = _coded_volume()
    disp = display_slice(_plane(vol, 0, 3), 0)
    np.testing.assert_array_equal(disp, vol[3])
    assert disp.flags.c_contiguous


@pytest.mark.parametrize("axis", [1, 2])
def test_coronal_and_sagittal_have_superior_at_the_top(axis):
    vol = _coded_volume()
    disp = display_slice(_plane(vol, axis, 2), axis)
    assert disp.flags.c_contiguous
    z_of_row = disp[:, 0] // 10000
    np.testing.assert_array_equal(z_of_row, np.arange(SHAPE[0])[::-1])
    assert disp.shape == display_shape(axis, SHAPE)


def test_display_slice_carries_trailing_channels():
    rgba = np.arange(4 * 3 * 4, dtype=np.uint8).reshape(4, 3, 4)
    disp = display_slice(rgba, 1)
    np.testing.assert_array_equal(disp[0], rgba[-1])


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_display_to_voxel_reads_the_displayed_pixel(axis):
    vol = _coded_volume()
    index = 1
    disp = display_slice(_plane(vol, axis, index), axis)
    for row, col in itertools.product(range(disp.shape[0]), range(disp.shape[1])):
        z, y, x = display_to_voxel(axis, index, row, col, SHAPE)
        assert vol[int(z), int(y), int(x)] == disp[row, col]


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_maps_are_inverse_for_fractional_positions(axis):
    rng = np.random.default_rng(axis)
    for _ in range(50):
        row, col = rng.uniform(-1, 8, 2)
        s = rng.uniform(0, 5)
        zyx = display_to_voxel(axis, s, row, col, SHAPE)
        assert zyx[axis] == pytest.approx(s)
        back = voxel_to_display(axis, zyx, SHAPE)
        assert back == pytest.approx((row, col))
        zyx2 = tuple(rng.uniform(0, 6, 3))
        r, c = voxel_to_display(axis, zyx2, SHAPE)
        assert display_to_voxel(axis, zyx2[axis], r, c, SHAPE) == pytest.approx(zyx2)


def test_pixel_aspect_follows_spacing():
    spacing_zyx = (2.5, 0.6, 0.47)
    assert pixel_aspect(0, spacing_zyx) == (0.6, 0.47)
    assert pixel_aspect(1, spacing_zyx) == (2.5, 0.47)
    assert pixel_aspect(2, spacing_zyx) == (2.5, 0.6)
    geom = Geometry((100, 80, 30), (0.47, 0.6, 2.5), (0, 0, 0))
    assert pixel_aspect(2, geom.spacing_zyx) == (2.5, 0.6)


def test_orientation_labels_identity():
    geom = Geometry((100, 80, 30), (0.5, 0.5, 2.5), (0, 0, 0))
    assert orientation_labels(0, geom) == {"top": "A", "bottom": "P", "left": "R", "right": "L"}
    assert orientation_labels(1, geom) == {"top": "S", "bottom": "I", "left": "R", "right": "L"}
    assert orientation_labels(2, geom) == {"top": "S", "bottom": "I", "left": "A", "right": "P"}


def test_orientation_labels_are_the_patients_for_every_storage_order():
    # views are reoriented, so the letters never depend on how the file stores its axes
    expected = {a: orientation_labels(a, Geometry((100, 80, 30), (0.5, 0.5, 2.5), (0, 0, 0))) for a in range(3)}
    seen = 0
    for direction in axis_aligned_directions():
        geom = Geometry((100, 80, 30), (0.5, 0.5, 2.5), (0, 0, 0), direction)
        for axis in range(3):
            assert orientation_labels(axis, geom) == expected[axis], direction
        seen += 1
    assert seen == 48


def test_orientation_labels_of_an_oblique_grid_are_its_nearest():
    a = np.deg2rad(10.0)
    rot = (np.cos(a), -np.sin(a), 0, np.sin(a), np.cos(a), 0, 0, 0, 1)  # 10 degrees about z
    geom = Geometry((100, 80, 30), (0.5, 0.5, 2.5), (0, 0, 0), rot)
    assert orientation_labels(0, geom) == {"top": "A", "bottom": "P", "left": "R", "right": "L"}


@pytest.mark.parametrize("direction", [None, *axis_aligned_directions()[1::5]])
@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.slow
def test_cropped_slice_matches_the_full_display_slice(axis, direction):
    rng = np.random.default_rng(3)
    full = np.zeros((9, 11, 13), dtype=bool)
    full[2:7, 3:9, 4:10] = rng.random((5, 6, 6)) > 0.4
    mask = Mask.from_full(full)
    orient = (
        None if direction is None else Orientation.from_geometry(Geometry((13, 11, 9), (1, 1, 1), (0, 0, 0), direction))
    )
    shown = full if orient is None else orient.view(full)  # the display array
    for index in range(shown.shape[axis]):
        res = cropped_slice(mask, axis, index, orient)
        expected = display_slice(np.take(shown, index, axis=axis), axis)
        if res is None:
            assert not expected.any()
            continue
        block, (r0, c0) = res
        rebuilt = np.zeros_like(expected)
        rebuilt[r0 : r0 + block.shape[0], c0 : c0 + block.shape[1]] = block
        np.testing.assert_array_equal(rebuilt, expected)
        assert block.flags.c_contiguous


def test_bad_axis_is_rejected():
    with pytest.raises(ValueError, match=r"view axis must be 0, 1 or 2"):
        display_slice(np.zeros((2, 2)), 3)
