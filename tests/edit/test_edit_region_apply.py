"""Region construction and apply_region semantics against full-grid numpy references."""

from __future__ import annotations

import numpy as np
import pytest

from lundprobe_gui.core.mask import Mask, box_slices
from lundprobe_gui.edit.apply import apply_region
from lundprobe_gui.edit.region import Region, plane_axes, slice_box

SHAPE = (6, 20, 24)


def random_mask(rng, p=0.3) -> tuple[Mask, np.ndarray]:
    full = np.zeros(SHAPE, bool)
    full[1:5, 3:17, 4:20] = rng.random((4, 14, 16)) < p
    return Mask.from_full(full), full


@pytest.mark.slow
def test_region_validates_shape():
    with pytest.raises(ValueError, match=r"do not fit box"):
        Region(((0, 2), (0, 2), (0, 2)), np.zeros((2, 2, 3), bool))
    r = Region(((0, 1), (0, 2), (0, 2)), np.array([[[1, 0], [0, 2]]]))
    assert r.values.dtype == bool and r.count() == 2


def test_region_clip_and_to_full():
    values = np.ones((3, 4, 4), bool)
    r = Region(((-1, 2), (18, 22), (-2, 2)), values)
    c = r.clip(SHAPE)
    assert c.box == ((0, 2), (18, 20), (0, 2))
    assert c.values.shape == (2, 2, 2)
    full = r.to_full(SHAPE)
    assert full.sum() == 8 and full[0:2, 18:20, 0:2].all()
    assert Region(((7, 8), (0, 1), (0, 1)), np.ones((1, 1, 1), bool)).clip(SHAPE) is None


@pytest.mark.slow
def test_plane_axes_and_slice_box():
    assert plane_axes(0) == (1, 2) and plane_axes(1) == (0, 2) and plane_axes(2) == (0, 1)
    assert slice_box(1, 5, ((0, 3), (2, 4))) == ((0, 3), (5, 6), (2, 4))
    r = Region.on_slice(2, 7, ((1, 3), (4, 6)), np.array([[1, 0], [0, 1]], bool))
    assert r.box == ((1, 3), (4, 6), (7, 8))
    assert r.values[:, :, 0].tolist() == [[True, False], [False, True]]


def test_region_from_points_drops_outside():
    r = Region.from_points(np.array([[0, 0, 0], [2, 3, 4], [9, 0, 0]]), SHAPE)
    assert r.box == ((0, 3), (0, 4), (0, 5)) and r.count() == 2
    assert Region.from_points(np.zeros((0, 3)), SHAPE) is None


@pytest.mark.parametrize("mode", ["add", "remove", "set"])
@pytest.mark.slow
def test_apply_matches_numpy_reference(rng, mode):
    for _ in range(20):
        mask, full = random_mask(rng)
        lo = rng.integers(-2, [5, 18, 22])
        size = rng.integers(1, [4, 8, 8])
        box = tuple((int(a), int(a + n)) for a, n in zip(lo, size))
        region = Region(box, rng.random(tuple(size)) < 0.5)
        want = full.copy()
        rfull = region.to_full(SHAPE)
        inside = Region(box, np.ones(tuple(size), bool)).to_full(SHAPE)
        if mode == "add":
            want |= rfull
        elif mode == "remove":
            want &= ~rfull
        else:
            want[inside] = rfull[inside]
        patch = apply_region(mask, region, mode)
        np.testing.assert_array_equal(mask.to_full(), want)
        if np.array_equal(want, full):
            assert patch is None
        else:
            # the patch box is the tight box of the changed voxels
            diff = want ^ full
            sl = box_slices(patch.box)
            assert diff[sl].sum() == diff.sum()
            for ax in range(3):
                assert diff[sl].any(axis=tuple(i for i in range(3) if i != ax))[[0, -1]].all()
            np.testing.assert_array_equal(patch.before, full[sl])
            np.testing.assert_array_equal(patch.after, want[sl])
            patch.undo()
            np.testing.assert_array_equal(mask.to_full(), full)
            patch.redo()
            np.testing.assert_array_equal(mask.to_full(), want)


def test_noop_returns_none(rng):
    mask, full = random_mask(rng, 1.0)
    box = ((2, 3), (5, 8), (6, 9))
    assert apply_region(mask, Region(box, np.ones((1, 3, 3), bool)), "add") is None
    assert apply_region(mask, Region(((0, 1), (0, 2), (0, 2)), np.ones((1, 2, 2), bool)), "remove") is None
    assert apply_region(mask, Region(((9, 10), (0, 1), (0, 1)), np.ones((1, 1, 1), bool)), "add") is None
    np.testing.assert_array_equal(mask.to_full(), full)


def test_apply_rejects_unknown_mode():
    with pytest.raises(ValueError, match=r"mode must be one of"):
        apply_region(Mask(SHAPE), Region(((0, 1),) * 3, np.ones((1, 1, 1), bool)), "xor")
