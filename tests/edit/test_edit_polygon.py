"""Polygon and lasso: the fill matches skimage.draw.polygon on the slice of any axis."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import polygon as sk_polygon

from lundprobe_gui.edit.polygon import PolygonSettings, PolygonTool, polygon_region
from lundprobe_gui.edit.region import plane_axes

from .conftest import event, make_ctx

SHAPE = (12, 40, 48)
VERTS = [(3.2, 4.7), (30.5, 9.1), (22.0, 35.6), (8.4, 28.3), (12.9, 16.0)]


def to_zyx(axis: int, index: int, rc) -> tuple[float, float, float]:
    out = [0.0, 0.0, 0.0]
    out[axis] = float(index)
    ra, ca = plane_axes(axis)
    out[ra], out[ca] = rc
    return tuple(out)


def reference(axis: int, index: int, verts) -> np.ndarray:
    ra, ca = plane_axes(axis)
    plane = np.zeros((SHAPE[ra], SHAPE[ca]), bool)
    v = np.asarray(verts)
    rr, cc = sk_polygon(v[:, 0], v[:, 1], shape=plane.shape)
    plane[rr, cc] = True
    full = np.zeros(SHAPE, bool)
    sl = [slice(None)] * 3
    sl[axis] = index
    full[tuple(sl)] = plane
    return full


@pytest.mark.parametrize("axis,index", [(0, 6), (1, 20), (2, 11)])
def test_clicked_polygon_matches_skimage(axis, index):
    verts = [(min(r, SHAPE[plane_axes(axis)[0]] - 1), c) for r, c in VERTS]
    ctx = make_ctx(SHAPE)
    tool = PolygonTool()
    tool.activate(ctx)
    for rc in verts:
        tool.on_event(event("click", to_zyx(axis, index, rc), axis, index))
    assert ctx.mask.count() == 0  # nothing happens before the polygon is closed
    tool.on_event(event("key", axis=axis, slice_index=index, key="Return"))
    want = reference(axis, index, verts)
    assert want.sum() > 20
    np.testing.assert_array_equal(ctx.mask.to_full(), want)
    assert ctx.history.undo_depth == 1 and tool.vertices == []


def test_press_release_is_a_vertex_and_right_click_finishes():
    ctx = make_ctx(SHAPE)
    tool = PolygonTool()
    tool.activate(ctx)
    for rc in VERTS:
        tool.on_event(event("press", to_zyx(0, 3, rc), 0, 3))
        tool.on_event(event("release", to_zyx(0, 3, rc), 0, 3))
    tool.on_event(event("click", to_zyx(0, 3, (0, 0)), 0, 3, button="right"))
    np.testing.assert_array_equal(ctx.mask.to_full(), reference(0, 3, VERTS))


@pytest.mark.slow
def test_lasso_drag_fills_its_path():
    ctx = make_ctx(SHAPE)
    tool = PolygonTool()
    tool.activate(ctx)
    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    path = np.stack([20 + 12 * np.sin(t), 24 + 15 * np.cos(t)], axis=1)
    tool.on_event(event("press", to_zyx(0, 5, path[0]), 0, 5))
    for p in path[1:]:
        tool.on_event(event("move", to_zyx(0, 5, p), 0, 5))
    tool.on_event(event("release", to_zyx(0, 5, path[-1]), 0, 5))
    np.testing.assert_array_equal(ctx.mask.to_full(), reference(0, 5, path))
    assert ctx.history.undo_depth == 1


def test_jitter_while_clicking_is_still_a_vertex():
    ctx = make_ctx(SHAPE)
    tool = PolygonTool()
    tool.activate(ctx)
    for r, c in VERTS:
        tool.on_event(event("press", to_zyx(0, 3, (r, c)), 0, 3))
        tool.on_event(event("move", to_zyx(0, 3, (r + 0.8, c - 1.1)), 0, 3))
        tool.on_event(event("release", to_zyx(0, 3, (r, c)), 0, 3))
    assert len(tool.vertices) == len(VERTS)
    tool.finish()
    np.testing.assert_array_equal(ctx.mask.to_full(), reference(0, 3, VERTS))


@pytest.mark.slow
def test_remove_mode_cuts_out():
    full = np.zeros(SHAPE, bool)
    full[6] = True
    ctx = make_ctx(full=full)
    tool = PolygonTool(PolygonSettings(mode="remove"))
    tool.activate(ctx)
    for rc in VERTS:
        tool.on_event(event("click", to_zyx(0, 6, rc), 0, 6))
    assert tool.finish()
    np.testing.assert_array_equal(ctx.mask.to_full(), full & ~reference(0, 6, VERTS))


@pytest.mark.slow
def test_escape_backspace_and_slice_change():
    ctx = make_ctx(SHAPE)
    tool = PolygonTool()
    tool.activate(ctx)
    for rc in VERTS[:3]:
        tool.on_event(event("click", to_zyx(0, 2, rc), 0, 2))
    tool.on_event(event("key", key="Escape"))
    assert tool.vertices == []
    for rc in VERTS[:2]:
        tool.on_event(event("click", to_zyx(0, 2, rc), 0, 2))
    # a vertex on another slice starts a new polygon there
    for rc in VERTS:
        tool.on_event(event("click", to_zyx(0, 4, rc), 0, 4))
    tool.on_event(event("click", to_zyx(0, 4, (1, 1)), 0, 4))
    tool.on_event(event("key", key="BackSpace"))
    assert len(tool.vertices) == len(VERTS)
    tool.finish()
    np.testing.assert_array_equal(ctx.mask.to_full(), reference(0, 4, VERTS))


@pytest.mark.slow
def test_degenerate_polygon_does_nothing():
    ctx = make_ctx(SHAPE)
    tool = PolygonTool()
    tool.activate(ctx)
    for rc in VERTS[:2]:
        tool.on_event(event("click", to_zyx(0, 2, rc), 0, 2))
    assert not tool.finish()
    assert ctx.history.undo_depth == 0
    assert polygon_region(0, 50, VERTS, SHAPE) is None


@pytest.mark.slow
def test_polygon_partly_outside_the_grid():
    verts = [(-10.0, -10.0), (20.0, -5.0), (15.0, 70.0)]
    region = polygon_region(0, 1, verts, SHAPE)
    np.testing.assert_array_equal(region.to_full(SHAPE), reference(0, 1, verts))
