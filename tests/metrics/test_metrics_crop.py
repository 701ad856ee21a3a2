"""The crop helper: arrays and Mask objects give the same padded blocks."""

from __future__ import annotations

import numpy as np
import pytest

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.metrics.crop import crop_pair, read_mask


def _pair() -> tuple[np.ndarray, np.ndarray]:
    a = np.zeros((10, 20, 30), dtype=bool)
    b = np.zeros_like(a)
    a[2:5, 3:9, 4:10] = True
    b[4:7, 6:12, 8:15] = True
    return a, b


def test_crop_is_union_box_plus_margin() -> None:
    a, b = _pair()
    pair = crop_pair(a, b, margin=2)
    # union z 2..7, y 3..12, x 4..15 grown by 2 on each side
    assert pair.origin == (0, 1, 2)
    assert pair.reference.shape == (9, 13, 15)
    assert pair.reference.sum() == a.sum() and pair.test.sum() == b.sum()
    assert np.array_equal(pair.reference, a[0:9, 1:14, 2:17])
    assert np.array_equal(pair.test, b[0:9, 1:14, 2:17])


def test_mask_objects_give_identical_crops() -> None:
    a, b = _pair()
    from_arrays = crop_pair(a, b)
    from_masks = crop_pair(Mask.from_full(a), Mask.from_full(b))
    mixed = crop_pair(a, Mask.from_full(b))
    for other in (from_masks, mixed):
        assert other.origin == from_arrays.origin
        assert np.array_equal(other.reference, from_arrays.reference)
        assert np.array_equal(other.test, from_arrays.test)


def test_mask_with_loose_block_crops_to_tight_box() -> None:
    a, b = _pair()
    loose = Mask(a.shape, a[0:8, 0:15, 0:20], (0, 0, 0))
    pair = crop_pair(loose, b)
    assert pair.origin == crop_pair(a, b).origin


def test_border_touching_mask_is_padded_with_background() -> None:
    a = np.zeros((4, 5, 6), dtype=bool)
    a[0:2, 0:5, 3:6] = True  # touches z=0, both y borders and x=5
    pair = crop_pair(a, a, margin=1)
    assert pair.origin == (-1, -1, 2)
    assert pair.reference.shape == (4, 7, 5)
    # the padded layer outside the grid is background on every side
    assert not pair.reference[0].any() and not pair.reference[:, 0].any() and not pair.reference[:, -1].any()
    assert not pair.reference[:, :, -1].any() and not pair.reference[:, :, 0].any()
    assert np.array_equal(pair.reference[1:3, 1:6, 1:4], a[0:2, :, 3:6])
    from_mask = crop_pair(Mask.from_full(a), Mask.from_full(a))
    assert from_mask.origin == pair.origin and np.array_equal(from_mask.reference, pair.reference)


def test_read_mask_outside_grid_is_zero() -> None:
    a = np.ones((2, 2, 2), dtype=np.uint8)
    block = read_mask(a, ((-1, 3), (0, 2), (1, 4)))
    assert block.dtype == bool and block.shape == (4, 2, 3)
    assert block.sum() == 4
    assert np.array_equal(block[1:3, :, 0:1], np.ones((2, 2, 1), dtype=bool))
    assert read_mask(Mask.from_full(a), ((5, 6), (0, 1), (0, 1))).sum() == 0


def test_empty_pair_and_errors() -> None:
    z = np.zeros((3, 3, 3), dtype=bool)
    assert crop_pair(z, Mask(z.shape)).empty
    with pytest.raises(ValueError, match=r"different grids"):
        crop_pair(z, np.zeros((3, 3, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"margin must be at least 1"):
        crop_pair(z, z, margin=0)
