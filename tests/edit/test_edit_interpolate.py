"""Fill between slices by signed-distance interpolation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lundprobe_gui.edit.interpolate import InterpolateSettings, InterpolateTool, interpolate_region

from .conftest import event, make_ctx

SHAPE = (12, 40, 40)


def square(side: int, centre: int = 20) -> tuple[slice, slice]:
    a = centre - side // 2
    return slice(a, a + side), slice(a, a + side)


def brute_sdf(plane: np.ndarray, spacing) -> np.ndarray:
    """Signed distance by brute force over all pixel pairs: + outside, - inside."""
    pts = np.argwhere(np.ones(plane.shape, bool)) * np.asarray(spacing)
    inside = plane.ravel()
    d = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
    to_in = np.where(inside[None, :], d, np.inf).min(axis=1)
    to_out = np.where(~inside[None, :], d, np.inf).min(axis=1)
    return np.where(inside, -to_out, to_in).reshape(plane.shape)


def run(full: np.ndarray, spacing=(1.0, 1.0, 1.0), axis: int = 0) -> tuple[np.ndarray, object]:
    ctx = make_ctx(full=full, spacing=spacing)
    tool = InterpolateTool(InterpolateSettings(axis=axis))
    tool.activate(ctx)
    tool.on_event(event("click", (0, 0, 0)))
    return ctx.mask.to_full(), ctx


@pytest.mark.slow
def test_identical_squares_give_the_same_square():
    full = np.zeros(SHAPE, bool)
    full[(2, *square(10))] = True
    full[(8, *square(10))] = True
    got, ctx = run(full)
    want = full.copy()
    want[(slice(2, 9), *square(10))] = True
    np.testing.assert_array_equal(got, want)
    assert ctx.history.undo_depth == 1
    ctx.history.undo()
    np.testing.assert_array_equal(ctx.mask.to_full(), full)


def test_different_squares_give_in_between_sizes():
    full = np.zeros(SHAPE, bool)
    full[(2, *square(6))] = True
    full[(8, *square(18))] = True
    got, _ = run(full)
    sides = [int(got[z, 20].sum()) for z in range(2, 9)]
    assert sides[0] == 6 and sides[-1] == 18
    assert all(a <= b for a, b in itertools.pairwise(sides))
    assert 6 < sides[3] < 18 and abs(sides[3] - 12) <= 2
    for z in range(3, 8):
        assert (got[z] >= full[2]).all() and (got[z] <= full[8]).all()
    assert not got[:2].any() and not got[9:].any()  # no extrapolation


def test_matches_brute_force_sdf_with_anisotropic_pixels():
    spacing = (3.0, 0.6, 1.0)
    full = np.zeros((7, 24, 20), bool)
    yy, xx = np.mgrid[:24, :20]
    full[1] = ((yy - 11) * 0.6) ** 2 + ((xx - 9) * 1.0) ** 2 <= 4.5**2
    full[5] = (np.abs(yy - 12) <= 8) & (np.abs(xx - 10) <= 3)
    got, _ = run(full, spacing)
    s0, s1 = brute_sdf(full[1], spacing[1:]), brute_sdf(full[5], spacing[1:])
    want = full.copy()
    for t in (2, 3, 4):
        w = (t - 1) / 4
        want[t] = (1 - w) * s0 + w * s1 <= 0
    assert np.isfinite(s0).all() and want[3].sum() > 0
    np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_several_gaps_and_adjacent_keys():
    full = np.zeros(SHAPE, bool)
    for z in (1, 2, 5, 9):
        full[(z, *square(8))] = True
    got, ctx = run(full)
    want = np.zeros(SHAPE, bool)
    want[(slice(1, 10), *square(8))] = True
    np.testing.assert_array_equal(got, want)
    assert ctx.history.undo_depth == 1


@pytest.mark.parametrize("axis", [1, 2])
@pytest.mark.slow
def test_other_axes(axis):
    full = np.zeros(SHAPE, bool)
    sl = [slice(3, 9), slice(12, 24), slice(12, 24)]
    for k in (14, 20):
        s = list(sl)
        s[axis] = k
        full[tuple(s)] = True
    got, _ = run(full, (2.5, 0.5, 0.5), axis)
    want = np.zeros(SHAPE, bool)
    s = list(sl)
    s[axis] = slice(14, 21)
    want[tuple(s)] = True
    np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_nothing_to_interpolate():
    full = np.zeros(SHAPE, bool)
    full[(3, *square(6))] = True
    full[(4, *square(6))] = True
    _, ctx = run(full)
    assert ctx.history.undo_depth == 0
    assert interpolate_region(make_ctx(SHAPE).mask, 0, (1, 1, 1)) is None
