"""Margins and opening/closing in mm against full-grid distance-map references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt, gaussian_filter

from lundprobe_gui.edit.margin import MarginSettings, MarginTool, grow_block, shrink_block
from lundprobe_gui.edit.smooth import SmoothSettings, SmoothTool

from .conftest import make_ctx

SPACING = (2.5, 0.7, 0.5)


def blobby(shape, seed, level=0.55, border=False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.random(shape), (1, 3, 3))
    full = field > np.quantile(field, level)
    if not border:
        full[[0, -1]] = False
        full[:, [0, -1]] = False
        full[:, :, [0, -1]] = False
    return full


def ref_grow(full, r, spacing):
    return distance_transform_edt(~full, sampling=spacing) <= r


def ref_shrink(full, r, spacing):
    return distance_transform_edt(full, sampling=spacing) > r


def run_margin(full, margin, spacing=SPACING):
    ctx = make_ctx(full=full, spacing=spacing)
    tool = MarginTool(MarginSettings(margin_mm=margin))
    tool.activate(ctx)
    tool.run()
    return ctx.mask.to_full(), ctx


@pytest.mark.parametrize("margin", [0.7, 1.0, 2.6, 5.0, -0.7, -1.4, -3.0])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.slow
def test_margin_equals_full_grid_reference(margin, seed):
    full = np.zeros((20, 70, 80), bool)
    full[6:14, 20:50, 25:55] = blobby((8, 30, 30), seed)[:, :, :]
    got, ctx = run_margin(full, margin)
    want = ref_grow(full, margin, SPACING) if margin > 0 else ref_shrink(full, -margin, SPACING)
    assert not np.array_equal(want, full)
    np.testing.assert_array_equal(got, want)
    assert ctx.history.undo_depth == 1


@pytest.mark.parametrize("margin", [3.0, -3.0])
@pytest.mark.slow
def test_margin_at_the_grid_border(margin):
    full = blobby((8, 30, 40), 3, 0.4, border=True)
    got, _ = run_margin(full, margin)
    want = ref_grow(full, margin, SPACING) if margin > 0 else ref_shrink(full, -margin, SPACING)
    np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_margin_brute_force_ball():
    """Independent of scipy: grow = dilation by the ball |d|_mm <= r, shrink = erosion by it."""
    spacing = (2.0, 1.0, 0.75)
    full = np.zeros((7, 12, 14), bool)
    full[2:5, 3:9, 4:11] = True
    full[3, 5, 11:13] = True
    r = 2.2
    ball = [
        d
        for d in itertools.product(range(-2, 3), range(-3, 4), range(-3, 4))
        if sum((a * s) ** 2 for a, s in zip(d, spacing)) <= r * r
    ]
    pad = np.pad(full, 3)
    n = np.array(full.shape)
    dil = np.zeros_like(full)
    ero = np.ones_like(full)
    for d in ball:
        shifted = pad[tuple(slice(3 - a, 3 - a + m) for a, m in zip(d, n))]
        dil |= shifted
        ero &= shifted
    assert np.array_equal(grow_block(full, r, spacing), dil)
    got, _ = run_margin(full, r, spacing)
    np.testing.assert_array_equal(got, dil)
    got, _ = run_margin(full, -r, spacing)
    np.testing.assert_array_equal(got, ero & full)


@pytest.mark.slow
def test_shrink_block_without_background_keeps_everything():
    block = np.ones((2, 3, 3), bool)
    assert shrink_block(block, 1.0, (1, 1, 1)).all()


def run_smooth(full, operation, r, spacing):
    ctx = make_ctx(full=full, spacing=spacing)
    tool = SmoothTool(SmoothSettings(operation=operation, radius_mm=r))
    tool.activate(ctx)
    tool.run()
    return ctx.mask.to_full(), ctx


@pytest.mark.slow
def test_opening_removes_a_thin_protrusion():
    spacing = (2.5, 0.5, 0.5)
    full = np.zeros((6, 40, 50), bool)
    full[1:5, 10:30, 10:30] = True
    full[1:5, 19:21, 30:45] = True  # 1 mm wide spike
    got, ctx = run_smooth(full, "opening", 1.0, spacing)
    assert not got[:, :, 31:].any()
    assert got[1:5, 12:28, 12:28].all()
    assert not (got & ~full).any()
    want = ref_grow(ref_shrink(full, 1.0, spacing), 1.0, spacing)
    np.testing.assert_array_equal(got, want)
    assert ctx.history.undo_depth == 1


@pytest.mark.slow
def test_closing_fills_a_small_gap():
    spacing = (2.5, 0.5, 0.5)
    full = np.zeros((6, 40, 50), bool)
    full[1:5, 10:30, 8:24] = True
    full[1:5, 10:30, 25:40] = True  # a one-pixel (0.5 mm) gap at x = 24
    full[1:5, 18:20, 12:16] = False  # and a small hole
    got, _ = run_smooth(full, "closing", 1.0, spacing)
    # the gap is filled except its two end pixels on the outer edge, which no 1 mm ball bridges
    assert got[1:5, 11:29, 24].all() and got[1:5, 18:20, 12:16].all()
    assert not got[1:5, 10, 24].any()
    assert not (full & ~got).any()
    want = ref_shrink(ref_grow(full, 1.0, spacing), 1.0, spacing)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("operation", ["opening", "closing"])
@pytest.mark.slow
def test_smooth_equals_reference_on_random_shapes(operation):
    full = np.zeros((16, 60, 60), bool)
    full[3:13, 10:50, 10:50] = blobby((10, 40, 40), 7, 0.6)
    got, _ = run_smooth(full, operation, 1.6, SPACING)
    if operation == "opening":
        want = ref_grow(ref_shrink(full, 1.6, SPACING), 1.6, SPACING)
    else:
        want = ref_shrink(ref_grow(full, 1.6, SPACING), 1.6, SPACING)
    assert not np.array_equal(want, full)
    np.testing.assert_array_equal(got, want)
