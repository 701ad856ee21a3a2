"""Fill holes (2-D and 3-D) and remove islands (largest / clicked, 6- vs 26-connectivity)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import binary_fill_holes

from lundprobe_gui.edit.fill_holes import FillHolesSettings, FillHolesTool, fill_holes_region
from lundprobe_gui.edit.islands import IslandsSettings, IslandsTool

from .conftest import event, make_ctx

SHAPE = (10, 30, 30)


def ring_stack() -> np.ndarray:
    """A hollow box: closed cavity in 3-D, ring-shaped slices with 2-D holes."""
    full = np.zeros(SHAPE, bool)
    full[2:8, 5:20, 6:22] = True
    full[3:7, 8:16, 9:18] = False
    return full


def test_fill_holes_2d_fills_only_the_clicked_slice():
    full = ring_stack()
    ctx = make_ctx(full=full)
    tool = FillHolesTool()
    tool.activate(ctx)
    tool.on_event(event("click", (4, 12, 12), 0, 4))
    want = full.copy()
    want[4, 8:16, 9:18] = True
    np.testing.assert_array_equal(ctx.mask.to_full(), want)
    assert ctx.history.undo_depth == 1


def test_fill_holes_2d_on_coronal_slice():
    full = np.zeros(SHAPE, bool)
    full[2:8, 10, 5:25] = True  # a coronal sheet (y = 10) ...
    full[4:6, 10, 9:12] = False  # ... with a hole in it
    ctx = make_ctx(full=full)
    tool = FillHolesTool()
    tool.activate(ctx)
    tool.on_event(event("click", (5, 10, 10), 1, 10))
    want = full.copy()
    want[4:6, 10, 9:12] = True
    np.testing.assert_array_equal(ctx.mask.to_full(), want)
    # the same hole is no hole in an axial slice: nothing to do there
    ctx.history.undo()
    assert not tool.run(0, 4)


def test_fill_holes_3d_fills_the_cavity_and_equals_full_grid():
    full = ring_stack()
    full[5, 0:3, 0:3] = True  # a second blob touching the grid corner
    ctx = make_ctx(full=full)
    tool = FillHolesTool(FillHolesSettings(three_d=True))
    tool.activate(ctx)
    assert tool.run()
    want = binary_fill_holes(full)
    assert want.sum() > full.sum()
    np.testing.assert_array_equal(ctx.mask.to_full(), want)


def test_open_cavity_is_not_a_hole():
    full = ring_stack()
    full[3:7, 8:16, 6:9] = False  # a tunnel through the wall opens the cavity to the outside
    ctx = make_ctx(full=full)
    region = fill_holes_region(ctx.mask, three_d=True)
    np.testing.assert_array_equal(region.to_full(SHAPE) | full, binary_fill_holes(full))
    assert not region.values.any()


def islands_full() -> np.ndarray:
    full = np.zeros(SHAPE, bool)
    full[2:6, 2:12, 2:12] = True  # 400 voxels
    full[6:8, 20:25, 20:25] = True  # 50 voxels
    full[1, 1, 1] = True  # touches the big one at a corner only
    full[8, 2:4, 2:4] = True  # separate small blob, 4 voxels
    return full


def test_keep_largest_6_connected():
    full = islands_full()
    ctx = make_ctx(full=full)
    tool = IslandsTool()
    tool.activate(ctx)
    assert tool.run()
    want = np.zeros(SHAPE, bool)
    want[2:6, 2:12, 2:12] = True
    np.testing.assert_array_equal(ctx.mask.to_full(), want)
    assert ctx.history.undo_depth == 1


def test_keep_largest_26_connected_keeps_the_corner_voxel():
    full = islands_full()
    ctx = make_ctx(full=full)
    tool = IslandsTool(IslandsSettings(connectivity=26))
    tool.activate(ctx)
    tool.run()
    want = np.zeros(SHAPE, bool)
    want[2:6, 2:12, 2:12] = True
    want[1, 1, 1] = True
    np.testing.assert_array_equal(ctx.mask.to_full(), want)


@pytest.mark.slow
def test_keep_clicked():
    full = islands_full()
    ctx = make_ctx(full=full)
    tool = IslandsTool(IslandsSettings(keep="clicked"))
    tool.activate(ctx)
    tool.on_event(event("click", (7.2, 22.4, 21.6), 0, 7))
    want = np.zeros(SHAPE, bool)
    want[6:8, 20:25, 20:25] = True
    np.testing.assert_array_equal(ctx.mask.to_full(), want)
    # a click beside the structure changes nothing and adds no step
    tool.on_event(event("click", (0, 29, 29), 0, 0))
    assert ctx.history.undo_depth == 1


@pytest.mark.slow
def test_single_component_is_a_noop():
    full = np.zeros(SHAPE, bool)
    full[3:5, 3:5, 3:5] = True
    ctx = make_ctx(full=full)
    tool = IslandsTool()
    tool.activate(ctx)
    assert not tool.run()
    assert ctx.history.undo_depth == 0


@pytest.mark.parametrize("tool_cls", [IslandsTool, FillHolesTool])
@pytest.mark.slow
def test_empty_mask_is_a_noop(tool_cls):
    ctx = make_ctx(SHAPE)
    tool = tool_cls()
    tool.activate(ctx)
    tool.on_event(event("click", (1, 1, 1), 0, 1))
    assert ctx.history.undo_depth == 0
