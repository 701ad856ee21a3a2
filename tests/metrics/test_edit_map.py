"""The edit-map overlay: added and removed pixels of a displayed slice, as compositor layers."""

from __future__ import annotations

import numpy as np
import pytest

import lundprobe_gui as lp
from lundprobe_gui.core.mask import Mask
from lundprobe_gui.render.compose import MaskLayer, compose_slice
from lundprobe_gui.render.edit_map import ADDED_COLOUR, REMOVED_COLOUR, edit_map_layers, edit_map_slice
from lundprobe_gui.render.slicing import display_slice

SHAPE = (6, 20, 30)


def _masks() -> tuple[np.ndarray, np.ndarray]:
    base = np.zeros(SHAPE, dtype=bool)
    edited = np.zeros(SHAPE, dtype=bool)
    base[1:4, 5:10, 5:12] = True
    edited[1:4, 5:10, 5:12] = True
    edited[2, 5:10, 12:15] = True  # grown to the right on slice 2: 15 added
    edited[2:5, 8:10, 5:7] = False  # carved out on slices 2, 3 (and 4, where base is empty)
    edited[4, 15:17, 20:22] = True  # an island where the base has nothing: 4 added
    return base, edited


def _expected(base: np.ndarray, edited: np.ndarray, axis: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    sl = [slice(None)] * 3
    sl[axis] = index
    b = display_slice(base[tuple(sl)], axis)
    e = display_slice(edited[tuple(sl)], axis)
    return e & ~b, b & ~e


def _paint(diff, shape) -> tuple[np.ndarray, np.ndarray]:
    added = np.zeros(shape, dtype=bool)
    removed = np.zeros(shape, dtype=bool)
    r, c = diff.offset
    h, w = diff.added.shape
    added[r : r + h, c : c + w] = diff.added
    removed[r : r + h, c : c + w] = diff.removed
    return added, removed


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_slices_match_full_array_differences_in_every_view(axis: int) -> None:
    base, edited = _masks()
    mb, me = Mask.from_full(base), Mask.from_full(edited)
    checked = 0
    for index in range(SHAPE[axis]):
        want_added, want_removed = _expected(base, edited, axis, index)
        diff = edit_map_slice(mb, me, axis, index)
        if not want_added.any() and not want_removed.any():
            assert diff is None
            continue
        got_added, got_removed = _paint(diff, want_added.shape)
        assert np.array_equal(got_added, want_added) and np.array_equal(got_removed, want_removed)
        assert diff.n_added == want_added.sum() and diff.n_removed == want_removed.sum()
        checked += 1
    assert checked >= 2


def test_axial_counts_by_hand() -> None:
    base, edited = _masks()
    d = edit_map_slice(Mask.from_full(base), Mask.from_full(edited), 0, 2)
    assert (d.n_added, d.n_removed) == (15, 4)
    d4 = edit_map_slice(Mask.from_full(base), Mask.from_full(edited), 0, 4)
    assert (d4.n_added, d4.n_removed) == (4, 0) and d4.offset == (15, 20)
    assert edit_map_slice(Mask.from_full(base), Mask.from_full(edited), 0, 1) is None  # unchanged slice


def test_layers_paint_added_and_removed_in_their_colours() -> None:
    base, edited = _masks()
    layers = edit_map_layers(Mask.from_full(base), Mask.from_full(edited), 0, 2, opacity=1.0)
    assert [type(x) for x in layers] == [MaskLayer, MaskLayer]
    assert [x.colour for x in layers] == [ADDED_COLOUR, REMOVED_COLOUR]
    img = compose_slice(np.zeros(SHAPE[1:], dtype=np.uint8), layers)
    want_added, want_removed = _expected(base, edited, 0, 2)
    assert np.all(img[want_added] == ADDED_COLOUR)
    assert np.all(img[want_removed] == REMOVED_COLOUR)
    assert not img[~(want_added | want_removed)].any()
    only_added = edit_map_layers(Mask.from_full(base), Mask.from_full(edited), 0, 4)
    assert len(only_added) == 1 and only_added[0].colour == ADDED_COLOUR
    assert edit_map_layers(Mask.from_full(base), Mask.from_full(base), 0, 2) == []


def test_empty_masks_and_grid_mismatch() -> None:
    assert edit_map_slice(Mask(SHAPE), Mask(SHAPE), 0, 2) is None
    base, _ = _masks()
    d = edit_map_slice(Mask.from_full(base), Mask(SHAPE), 1, 7)
    assert d.n_removed == int(base[:, 7, :].sum()) and d.n_added == 0
    with pytest.raises(ValueError, match=r"different grids"):
        edit_map_slice(Mask(SHAPE), Mask((6, 20, 31)), 0, 0)


def test_dl_against_observer_on_the_demo_patient(demo_patient_path) -> None:
    p = lp.open_patient(demo_patient_path)
    dl, obs = p.mask_obj("CTVT_427", "nnUNet"), p.mask_obj("CTVT_427", "step1_obsB")
    full_dl, full_obs = p.mask("CTVT_427", "nnUNet"), p.mask("CTVT_427", "step1_obsB")
    total_added = total_removed = 0
    for z in range(p.geometry.shape_zyx[0]):
        d = edit_map_slice(dl, obs, 0, z)
        if d is not None:
            total_added += d.n_added
            total_removed += d.n_removed
    assert total_added == np.count_nonzero(full_obs & ~full_dl)
    assert total_removed == np.count_nonzero(full_dl & ~full_obs)
    assert total_added + total_removed > 0
