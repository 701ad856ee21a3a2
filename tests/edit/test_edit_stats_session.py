"""Edit statistics on a known edit, and the EditSession bookkeeping."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.edit import TOOLS, Tool
from lundprobe_gui.edit.brush import BrushSettings, BrushTool
from lundprobe_gui.edit.constraint import EditConstraint
from lundprobe_gui.edit.margin import MarginSettings, MarginTool
from lundprobe_gui.edit.session import EditSession
from lundprobe_gui.edit.stats import edit_stats

from .conftest import drag, event

SHAPE = (10, 40, 40)
SPACING = (2.0, 0.5, 0.5)  # 0.5 mm^3 per voxel


def block(z0, z1, y0, y1, x0, x1) -> Mask:
    full = np.zeros(SHAPE, bool)
    full[z0:z1, y0:y1, x0:x1] = True
    return Mask.from_full(full)


def test_stats_on_a_known_edit():
    start = block(2, 6, 10, 20, 10, 20)  # 400 voxels
    current = block(3, 7, 10, 20, 10, 20)  # shifted one slice: 100 removed at z=2, 100 added at z=6
    s = edit_stats(start, current, SPACING)
    assert s.added_voxels == 100 and s.removed_voxels == 100
    assert s.added_cc == pytest.approx(100 * 0.5 / 1000)
    assert s.removed_cc == pytest.approx(0.05)
    assert s.start_cc == pytest.approx(0.2) and s.current_cc == pytest.approx(0.2)
    assert s.dice == pytest.approx(2 * 300 / 800)
    assert s.slices_touched == (2, 6)
    assert s.changed


def test_stats_edge_cases():
    empty = Mask(SHAPE)
    s = edit_stats(empty, empty, SPACING)
    assert s.dice == 1.0 and s.slices_touched == () and not s.changed
    s = edit_stats(empty, block(0, 1, 0, 2, 0, 2), SPACING)
    assert s.dice == 0.0 and s.added_voxels == 4 and s.slices_touched == (0,)


def test_start_editing_never_modifies_the_source():
    source = block(2, 6, 10, 20, 10, 20)
    snapshot = source.to_full()
    session = EditSession(SPACING)
    key = session.start_editing("Prostate", source, "observer_1")
    assert key == ("Prostate", "observer_1") and session.active_key == key
    session.set_tool(BrushTool(BrushSettings(radius_mm=2.0)))
    session.handle(event("click", (4, 30, 30)))
    assert session.working(key).count() > source.count()
    np.testing.assert_array_equal(source.to_full(), snapshot)
    np.testing.assert_array_equal(session.start_mask(key).to_full(), snapshot)
    # re-opening the same key keeps the edits
    assert session.start_editing("Prostate", source, "observer_1") == key
    assert session.working(key).count() > source.count()


def test_dirty_flags_and_mark_saved():
    session = EditSession(SPACING)
    a = session.start_editing("Prostate", block(2, 6, 10, 20, 10, 20), "obs")
    b = session.new_structure("Rectum", SHAPE, "obs")
    assert b == ("Rectum", "obs") and session.active_key == b and session.working(b).shape == SHAPE
    assert session.working(b).count() == 0 and session.dirty_keys() == []
    session.set_tool(BrushTool(BrushSettings(radius_mm=1.0)))
    session.handle(event("click", (3, 5, 5)))
    assert session.dirty_keys() == [b]
    session.mark_saved(b)
    assert session.dirty_keys() == []
    session.undo()
    assert session.dirty_keys() == [b] and session.working(b).count() == 0
    session.set_active(a)
    session.handle(event("click", (3, 5, 5)))
    assert set(session.dirty_keys()) == {a, b}


def test_history_survives_tool_changes_and_spans_structures():
    changes = []
    session = EditSession(SPACING, on_change=lambda key, box: changes.append(key))
    a = session.start_editing("Prostate", block(2, 6, 10, 20, 10, 20), "obs")
    brush = BrushTool(BrushSettings(radius_mm=1.5))
    session.set_tool(brush)
    drag(brush, [(3, 30, 5), (3, 30, 20), (3, 35, 30)])
    session.set_tool(MarginTool(MarginSettings(margin_mm=1.0)))
    assert not brush.active
    session.tool.run()
    b = session.new_structure("Rectum", SHAPE, "obs")
    session.set_tool(brush)
    drag(brush, [(5, 5, 5), (5, 5, 30)])
    assert session.history.undo_depth == 3
    n_a, n_b = session.working(a).count(), session.working(b).count()
    assert n_b > 0
    session.undo()
    assert session.working(b).count() == 0 and session.working(a).count() == n_a
    session.undo()
    session.undo()
    np.testing.assert_array_equal(session.working(a).to_full(), session.start_mask(a).to_full())
    assert changes[-3:] == [b, a, a]
    for _ in range(3):
        session.redo()
    assert session.working(a).count() == n_a and session.working(b).count() == n_b


def test_reset_to_is_one_step_and_ignores_the_constraint():
    dl = block(2, 6, 10, 20, 10, 20)
    session = EditSession(SPACING)
    key = session.start_editing("Prostate", dl, "obs")
    session.set_tool(BrushTool(BrushSettings(radius_mm=3.0)))
    drag(session.tool, [(4, 30, 5), (4, 30, 35)])
    session.constraint = EditConstraint(area=block(0, 10, 0, 40, 0, 5))  # would block the reset
    assert session.reset_to(key, dl)
    assert session.working(key) == dl
    assert session.history.undo_depth == 2
    assert not session.reset_to(key, dl)  # already equal: no step
    session.undo()
    assert session.working(key).count() > dl.count()
    assert session.stats(key).added_voxels > 0


def test_copy_from_honours_the_constraint():
    session = EditSession(SPACING)
    key = session.new_structure("CTV", SHAPE, "obs")
    other = block(2, 6, 10, 20, 10, 20)
    lock = block(0, 10, 0, 15, 0, 40)
    session.constraint = EditConstraint(locked=[lock])
    assert session.copy_from(key, other)
    want = other.to_full() & ~lock.to_full()
    np.testing.assert_array_equal(session.working(key).to_full(), want)
    assert session.history.undo_depth == 1
    session.constraint = None
    assert session.copy_from(key, block(2, 3, 30, 32, 30, 32), "add")
    assert session.working(key).count() == want.sum() + 4


def test_constraint_change_reaches_the_active_tool():
    session = EditSession(SPACING)
    key = session.new_structure("CTV", SHAPE, "obs")
    session.set_tool(BrushTool(BrushSettings(radius_mm=3.0)))
    session.constraint = EditConstraint(area=block(0, 10, 0, 40, 0, 20))
    session.handle(event("click", (4, 20, 20)))
    got = session.working(key).to_full()
    assert got[:, :, :20].any() and not got[:, :, 20:].any()


def test_close_drops_the_structure_and_its_steps():
    session = EditSession(SPACING)
    a = session.new_structure("A", SHAPE, "obs")
    session.set_tool(BrushTool())
    session.handle(event("click", (4, 20, 20)))
    session.close(a)
    assert session.keys() == [] and session.active_key is None
    assert not session.history.can_undo
    assert not session.handle(event("click", (4, 20, 20)))


def test_tools_registry():
    assert set(TOOLS) == {
        "brush",
        "eraser",
        "polygon",
        "fill_holes",
        "islands",
        "interpolate",
        "margin",
        "smooth",
        "edge_brush",
        "grow",
        "fold_vote",
    }
    for name, cls in TOOLS.items():
        assert issubclass(cls, Tool) and cls.name == name
        cls()  # every tool has usable default settings


@pytest.mark.slow
def test_edit_package_never_imports_qt():
    code = (
        "import sys, lundprobe_gui.edit; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6') "
        "or m.startswith('lundprobe_gui.ui')]; print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_session_says_why_an_action_changed_nothing():
    from lundprobe_gui.edit.interpolate import InterpolateSettings, InterpolateTool
    from lundprobe_gui.edit.tool import EditEvent

    shape = (10, 30, 30)
    body = np.zeros(shape, bool)
    body[:, 5:25, 5:25] = True
    start = np.zeros(shape, bool)
    start[3:7, 10:20, 10:20] = True
    s = EditSession((1.0, 1.0, 1.0))
    key = s.start_editing("CTV", Mask.from_full(start), "obsF")
    s.set_tool(BrushTool(BrushSettings(radius_mm=2.0)))
    s.constraint = EditConstraint(area=Mask.from_full(body), area_mode="outside", description="outside BODY")

    def click(zyx):
        s.begin_action()
        s.handle(EditEvent("click", 0, zyx[0], zyx))
        return s.nothing_changed_reason()

    why = click((5, 22, 22))  # inside BODY, outside the CTV: forbidden
    assert np.array_equal(s.working(key).to_full(), start)
    assert "outside BODY" in why and "Editable area" in why
    assert click((5, 15, 15)) is None  # already inside the CTV: nothing to change, nothing to explain
    assert click((5, 2, 2)) is None and s.working(key).to_full()[5, 2, 2]  # allowed: changed
    s.constraint = None
    s.set_tool(InterpolateTool(InterpolateSettings(0)))
    s.begin_action()
    assert not s.tool.run()
    why = s.nothing_changed_reason()
    assert "nothing to fill" in why and "4 contoured slices (4-7)" in why
