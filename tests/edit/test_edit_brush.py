"""Brush and eraser: footprint formula, gap-free drags, strokes as undo steps."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.ndimage import label

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.edit.brush import BrushSettings, BrushTool, EraserTool, brush_footprint, stroke_centres
from lundprobe_gui.edit.constraint import EditConstraint

from .conftest import drag, event, make_ctx

SPACINGS = [(1.0, 1.0, 1.0), (2.5, 0.4688, 0.4688), (3.0, 0.7, 1.1)]


def formula_offsets(radius, spacing, axis, three_d) -> set[tuple[int, int, int]]:
    """Offsets d with (dz*sz)^2 + (dy*sy)^2 + (dx*sx)^2 <= r^2, by brute force."""
    reach = [int(radius / s) + 2 for s in spacing]
    if not three_d:
        reach[axis] = 0
    out = set()
    for d in itertools.product(*(range(-n, n + 1) for n in reach)):
        if sum((di * si) ** 2 for di, si in zip(d, spacing)) <= radius**2:
            out.add(d)
    return out


def footprint_offsets(fp: np.ndarray) -> set[tuple[int, int, int]]:
    half = np.asarray(fp.shape) // 2
    assert (np.asarray(fp.shape) % 2 == 1).all()
    return {tuple(int(v) for v in p - half) for p in np.argwhere(fp)}


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("radius", [0.0, 0.3, 1.0, 2.5, 5.0])
@pytest.mark.parametrize("axis,three_d", [(0, False), (1, False), (2, False), (0, True)])
@pytest.mark.slow
def test_footprint_matches_formula(spacing, radius, axis, three_d):
    fp = brush_footprint(radius, spacing, axis, three_d)
    assert footprint_offsets(fp) == formula_offsets(radius, spacing, axis, three_d)
    assert not fp.flags.writeable
    assert brush_footprint(radius, spacing, axis, three_d) is fp  # cached


def test_footprint_5mm_on_lund_probe_spacing():
    fp = brush_footprint(5.0, (2.5, 0.4688, 0.4688), 0)
    assert fp.shape == (1, 21, 21)  # 5 / 0.4688 = 10.67 -> 10 pixels each side
    fp3 = brush_footprint(5.0, (2.5, 0.4688, 0.4688), 0, three_d=True)
    assert fp3.shape == (5, 21, 21)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_click_paints_the_footprint_on_the_view_slice(axis):
    spacing = (2.0, 0.5, 0.75)
    ctx = make_ctx((10, 40, 40), spacing)
    tool = BrushTool(BrushSettings(radius_mm=3.0))
    tool.activate(ctx)
    zyx = [5.2, 20.4, 19.6]
    tool.on_event(event("click", zyx, axis, slice_index=4))
    centre = [5, 20, 20]
    centre[axis] = 4
    want = {tuple(np.add(centre, d)) for d in formula_offsets(3.0, spacing, axis, False)}
    got = {tuple(int(v) for v in p) for p in np.argwhere(ctx.mask.to_full())}
    assert got == want
    assert ctx.history.undo_depth == 1


def test_3d_stamp_is_a_sphere_in_mm():
    spacing = (2.0, 0.5, 0.75)
    ctx = make_ctx((10, 40, 40), spacing)
    tool = BrushTool(BrushSettings(radius_mm=4.0, three_d=True))
    tool.activate(ctx)
    tool.on_event(event("click", (5, 20, 20), 1, slice_index=20))
    want = {tuple(np.add((5, 20, 20), d)) for d in formula_offsets(4.0, spacing, 0, True)}
    got = {tuple(int(v) for v in p) for p in np.argwhere(ctx.mask.to_full())}
    assert got == want


def test_stamp_at_the_grid_corner_is_clipped():
    ctx = make_ctx((3, 16, 16))
    tool = BrushTool(BrushSettings(radius_mm=3.0))
    tool.activate(ctx)
    tool.on_event(event("click", (0, 0, 0)))
    want = {d for d in formula_offsets(3.0, (1, 1, 1), 0, False) if min(d) >= 0}
    got = {tuple(int(v) for v in p) for p in np.argwhere(ctx.mask.to_full())}
    assert got == want


def segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((points - a) @ ab) / (ab @ ab), 0, 1)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


@pytest.mark.parametrize(
    "spacing,radius,start,end",
    [
        ((1.0, 1.0, 1.0), 4.0, (2, 5, 5), (2, 5, 60)),
        ((1.0, 1.0, 1.0), 4.0, (2, 6, 6), (2, 58, 61)),
        ((2.5, 0.5, 0.5), 3.0, (2, 8.3, 7.7), (2, 55.2, 40.1)),
        ((1.0, 1.0, 1.0), 0.5, (2, 3, 3), (2, 50, 20)),
    ],
)
def test_fast_drag_leaves_no_gap(spacing, radius, start, end):
    ctx = make_ctx((4, 64, 64), spacing)
    tool = BrushTool(BrushSettings(radius_mm=radius))
    tool.activate(ctx)
    drag(tool, [start, end])  # one move event covering the whole segment
    assert tool.step_mm == 0.5 * max(radius, min(spacing))
    full = ctx.mask.to_full()[2]
    # every pixel well inside the swept band is painted ...
    pix = np.argwhere(np.ones((64, 64), bool)).astype(float)
    sp = np.asarray(spacing[1:])
    d = segment_distance(pix * sp, np.asarray(start[1:]) * sp, np.asarray(end[1:]) * sp)
    band = (d <= 0.8 * radius - max(spacing[1:])).reshape(64, 64)
    assert full[band].all()
    assert full[tuple(np.floor(np.asarray(start[1:]) + 0.5).astype(int))]
    assert full[tuple(np.floor(np.asarray(end[1:]) + 0.5).astype(int))]
    # ... and the stroke is one piece (8-connected for sub-voxel brushes)
    assert label(full, structure=np.ones((3, 3)))[1] == 1
    # exactly the union of the stamps along the interpolated centres
    fp = brush_footprint(radius, spacing, 0)[0]
    h = np.asarray(fp.shape) // 2
    want = np.zeros((64 + 2 * h[0], 64 + 2 * h[1]), bool)
    centres = np.vstack([np.floor(np.asarray(start) + 0.5)[None], stroke_centres(start, end, spacing, tool.step_mm)])
    for _, y, x in centres.astype(int):
        want[y : y + fp.shape[0], x : x + fp.shape[1]] |= fp
    np.testing.assert_array_equal(full, want[h[0] : h[0] + 64, h[1] : h[1] + 64])


def test_stroke_centres_step():
    c = stroke_centres((0, 0, 0), (0, 0, 100), (1, 1, 1), 2.5)
    assert c[-1].tolist() == [0, 0, 100]
    assert np.max(np.diff(c[:, 2])) <= 3 and c[0, 2] <= 3


def test_one_drag_is_one_undo_step():
    ctx = make_ctx((4, 64, 64))
    tool = BrushTool(BrushSettings(radius_mm=2.0))
    tool.activate(ctx)
    drag(tool, [(1, 10, 10), (1, 12, 20), (1, 30, 25), (1, 40, 50)])
    drag(tool, [(2, 10, 10), (2, 50, 10)])
    assert ctx.history.undo_depth == 2
    ctx.history.undo()
    assert not ctx.mask.to_full()[2].any() and ctx.mask.to_full()[1].any()
    ctx.history.undo()
    assert ctx.mask.count() == 0


def test_noop_click_adds_no_step():
    ctx = make_ctx((4, 64, 64))
    tool = BrushTool(BrushSettings(radius_mm=3.0))
    tool.activate(ctx)
    tool.on_event(event("click", (1, 20, 20)))
    assert ctx.history.undo_depth == 1
    tool.on_event(event("click", (1, 20, 20)))
    tool.on_event(event("press", (1, 20, 20)))
    tool.on_event(event("release", (1, 20, 20)))
    assert ctx.history.undo_depth == 1
    eraser = EraserTool(BrushSettings(radius_mm=3.0, mode="remove"))
    eraser.activate(ctx)
    eraser.on_event(event("click", (1, 50, 50)))
    assert ctx.history.undo_depth == 1


def test_eraser_and_right_button():
    full = np.zeros((3, 32, 32), bool)
    full[1, 5:25, 5:25] = True
    ctx = make_ctx(full=full)
    eraser = EraserTool(BrushSettings(radius_mm=2.0, mode="remove"))
    eraser.activate(ctx)
    eraser.on_event(event("click", (1, 15, 15)))
    disc = brush_footprint(2.0, (1, 1, 1), 0)[0]
    want = full.copy()
    want[1, 13:18, 13:18] &= ~disc
    np.testing.assert_array_equal(ctx.mask.to_full(), want)
    brush = BrushTool(BrushSettings(radius_mm=2.0))
    brush.activate(ctx)
    brush.on_event(event("click", (1, 8, 8), button="right"))
    want[1, 6:11, 6:11] &= ~disc
    np.testing.assert_array_equal(ctx.mask.to_full(), want)
    eraser.on_event(event("click", (1, 15, 15), button="right"))
    want[1, 13:18, 13:18] |= disc
    np.testing.assert_array_equal(ctx.mask.to_full(), want)


def test_brush_honours_constraint():
    lock = np.zeros((3, 32, 32), bool)
    lock[:, :, :16] = True
    ctx = make_ctx((3, 32, 32), constraint=EditConstraint(locked=[Mask.from_full(lock)]))
    tool = BrushTool(BrushSettings(radius_mm=5.0))
    tool.activate(ctx)
    tool.on_event(event("click", (1, 16, 16)))
    got = ctx.mask.to_full()
    assert got[1, :, 16:21].any() and not got[:, :, :16].any()


def test_deactivate_mid_drag_closes_the_stroke():
    ctx = make_ctx((3, 32, 32))
    tool = BrushTool(BrushSettings(radius_mm=2.0))
    tool.activate(ctx)
    tool.on_event(event("press", (1, 5, 5)))
    tool.on_event(event("move", (1, 5, 20)))
    tool.deactivate()
    assert not ctx.history.in_stroke and ctx.history.undo_depth == 1


def test_cursor_footprint_is_the_slice_section():
    ctx = make_ctx((3, 32, 32), (2.5, 0.5, 0.5))
    tool = BrushTool(BrushSettings(radius_mm=3.0, three_d=True))
    tool.activate(ctx)
    cur = tool.cursor_footprint(0)
    np.testing.assert_array_equal(cur, brush_footprint(3.0, (2.5, 0.5, 0.5), 0)[0])
    assert tool.cursor_footprint(1).shape == (3, 13)
