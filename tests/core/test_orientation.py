"""The storage-to-display mapping: signed axis permutations from the direction matrix, and obliquity."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from lundprobe_gui.core.geometry import Geometry
from lundprobe_gui.core.orientation import Orientation, axis_aligned_directions

SHAPE_ZYX = (5, 6, 7)


def _image(direction) -> sitk.Image:
    arr = np.arange(np.prod(SHAPE_ZYX), dtype=np.float32).reshape(SHAPE_ZYX)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.5, 1.0, 2.5))
    img.SetOrigin((3.0, -4.0, 10.0))
    img.SetDirection(direction)
    return img


@pytest.mark.parametrize("direction", axis_aligned_directions())
def test_display_array_is_simpleitks_lps_reorientation_without_a_copy(direction):
    img = _image(direction)
    stored = sitk.GetArrayFromImage(img)
    orient = Orientation.from_geometry(Geometry.from_sitk(img))
    lps = sitk.DICOMOrient(img, "LPS")
    shown = orient.view(stored)
    np.testing.assert_array_equal(shown, sitk.GetArrayFromImage(lps))
    assert np.shares_memory(shown, stored)
    assert orient.display_shape == shown.shape
    assert orient.display_spacing(Geometry.from_sitk(img).spacing_zyx) == tuple(lps.GetSpacing()[::-1])
    # every display index maps to the stored voxel at the same world position
    geom, lgeom = Geometry.from_sitk(img), Geometry.from_sitk(lps)
    for d in [(0, 0, 0), (1, 2, 3), tuple(n - 1 for n in shown.shape)]:
        s = orient.to_stored(d)
        assert orient.to_display(s) == pytest.approx(d)
        np.testing.assert_allclose(geom.index_to_world(s[::-1]), lgeom.index_to_world(d[::-1]), atol=1e-9)
        assert stored[tuple(int(v) for v in s)] == shown[d]
    # planes and boxes agree with the display array
    for axis in range(3):
        for index in range(shown.shape[axis]):
            stored_index = orient.stored_index(axis, index)
            plane = np.take(stored, stored_index, axis=orient.stored_axis(axis))
            np.testing.assert_array_equal(orient.plane(plane, axis), np.take(shown, index, axis=axis))
    box = ((1, 3), (0, 4), (2, 7))
    sub = np.zeros(SHAPE_ZYX, bool)
    sub[1:3, 0:4, 2:7] = True
    dbox = orient.box_to_display(box)
    expect = orient.view(sub)
    got = np.zeros_like(expect)
    got[tuple(slice(a, b) for a, b in dbox)] = True
    np.testing.assert_array_equal(got, expect)
    assert orient.box_to_stored(dbox) == box


def test_lps_storage_is_the_identity_and_returns_the_array_itself():
    orient = Orientation.from_geometry(Geometry((7, 6, 5), (1, 1, 1), (0, 0, 0)))
    arr = np.zeros(SHAPE_ZYX)
    plane = arr[0]
    assert orient.is_identity and orient.view(arr) is arr and orient.plane(plane, 0) is plane
    assert orient.storage_code() == "LPS" and not orient.is_oblique and orient.obliquity_text() == ""


@pytest.mark.parametrize("degrees", [0.5, 4.0, 30.0, 44.0])
def test_an_oblique_grid_reports_its_angle_and_keeps_its_nearest_axes(degrees):
    a = np.deg2rad(degrees)
    # RAS-like storage tilted about the left-right axis (columns: where x, y, z point in LPS)
    c, s = np.cos(a), np.sin(a)
    rot = np.array([[-1, 0, 0], [0, -c, s], [0, s, c]])
    geom = Geometry((7, 6, 5), (1, 1, 1), (0, 0, 0), tuple(rot.ravel()))
    orient = Orientation.from_geometry(geom)
    assert orient.obliquity_deg == pytest.approx(degrees, abs=1e-6)
    assert orient.storage_code() == "RAS"
    assert orient.is_oblique == (degrees > 1.0)
    if degrees > 1.0:
        assert orient.obliquity_text() == f"oblique {degrees:.1f}°"


def test_a_45_degree_grid_still_gets_three_distinct_axes():
    c = np.sqrt(0.5)
    geom = Geometry((7, 6, 5), (1, 1, 1), (0, 0, 0), (c, -c, 0, c, c, 0, 0, 0, 1))
    orient = Orientation.from_geometry(geom)
    assert sorted(orient.axes) == [0, 1, 2]
    assert orient.obliquity_deg == pytest.approx(45.0)
