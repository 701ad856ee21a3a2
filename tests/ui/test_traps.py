"""Traps a new user fell into: wheel over panels, keys going to docks, invisible polygons, silent no-ops."""

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from lundprobe_gui.ui.saved_edits import TARGET_SETTING
from lundprobe_gui.ui.slice_view import qimage_to_array


def _wheel(widget, dy=-120):
    """Send a wheel turn to ``widget``; returns whether the widget kept it (accepted)."""
    pos = QtCore.QPointF(widget.width() / 2, widget.height() / 2)
    ev = QtGui.QWheelEvent(
        pos,
        widget.mapToGlobal(pos),
        QtCore.QPoint(),
        QtCore.QPoint(0, dy),
        QtCore.Qt.MouseButton.NoButton,
        QtCore.Qt.KeyboardModifier.NoModifier,
        QtCore.Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QtWidgets.QApplication.sendEvent(widget, ev)
    return ev.isAccepted()


def _focus(qtbot, win, widget):
    win.activateWindow()
    widget.setFocus(QtCore.Qt.FocusReason.MouseFocusReason)
    qtbot.waitUntil(widget.hasFocus, timeout=2000)


@pytest.mark.slow
def test_wheel_over_the_edit_panel_leaves_its_boxes_alone_until_one_is_focused(window, qtbot):
    ep = window.edit_panel
    radius_box = ep.option("brush", "radius_mm")
    window.tri.views[0].setFocus()
    for box in (ep.area_mode, ep.source_combo, ep.option("polygon", "mode")):
        before = box.currentIndex()
        kept = _wheel(box)
        assert box.currentIndex() == before, box  # "Editable area" stays "everywhere"
        assert not kept  # passed on to the panel, which scrolls
        assert not box.hasFocus()
    radius = radius_box.value()
    assert not _wheel(radius_box, dy=120) and radius_box.value() == radius
    before = window.display.dose_opacity.value()
    _wheel(window.display.dose_opacity, dy=120)
    assert window.display.dose_opacity.value() == before
    # a box the user clicked into does take the wheel
    _focus(qtbot, window, radius_box)
    assert _wheel(radius_box, dy=120) and radius_box.value() == radius + 0.5


@pytest.mark.slow
def test_single_key_shortcuts_work_wherever_focus_is_except_in_text(window, qtbot):
    ep = window.edit_panel
    radius_box = ep.option("brush", "radius_mm")
    window.tri.views[0].vb.scaleBy((0.3, 0.3))
    zoomed = window.tri.views[0].vb.viewRange()
    for widget in (
        radius_box,
        window.layers,
        ep.source_combo,
        ep.start_btn,
        window.display.window_width,
    ):  # a button that can have focus (Undo is off before editing)
        assert widget.isVisible(), widget
        window.tri.views[0].vb.scaleBy((0.5, 0.5))
        _focus(qtbot, window, widget)
        qtbot.keyClick(widget, QtCore.Qt.Key.Key_R)  # reset zoom, not "Rectum" or nothing
        assert window.tri.views[0].vb.viewRange() != zoomed, widget
        wash = window.state.dose.wash
        qtbot.keyClick(widget, QtCore.Qt.Key.Key_D)
        assert window.state.dose.wash != wash, widget
    # text fields keep their letters, and a spin box its digits
    _focus(qtbot, window, ep.target)
    wash = window.state.dose.wash
    ep.target.setText("")
    qtbot.keyClicks(ep.target, "Dr")
    assert ep.target.text() == "Dr" and window.state.dose.wash == wash
    _focus(qtbot, window, radius_box)
    radius_box.lineEdit().selectAll()
    qtbot.keyClick(radius_box, QtCore.Qt.Key.Key_7)
    assert radius_box.text().startswith("7") and window.edit.tool_name != "margin"
    window.settings.remove(TARGET_SETTING)  # "Dr" was remembered, and Qt keeps one settings file per process


@pytest.mark.slow
def test_a_click_in_a_view_takes_the_keys_from_the_panels(window, qtbot, view_point):
    ep = window.edit_panel
    radius_box = ep.option("brush", "radius_mm")
    _focus(qtbot, window, radius_box)
    view = window.tri.views[0]
    pt = view_point(view, window.state.cursor, window.scene.shape)
    qtbot.mouseClick(view.graphics.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=pt)
    assert not radius_box.hasFocus()
    radius = radius_box.value()
    qtbot.keyClick(QtWidgets.QApplication.focusWidget() or window, QtCore.Qt.Key.Key_3)
    assert window.edit.tool_name == "polygon" and radius_box.value() == radius


def _yellow(view):
    """Screen pixels of the view that are the polygon's yellow."""
    rgba = qimage_to_array(view.graphics.viewport().grab().toImage())
    return (rgba[..., 0] > 230) & (rgba[..., 1] > 230) & (rgba[..., 2] < 40)


@pytest.mark.slow
def test_polygon_shows_its_vertices_and_a_rubber_band_while_placed(editing, qtbot, view_point, view_aspect):
    win = editing
    for st in win.state.layers.values():
        st.visible = False  # nothing yellow (bladder) on screen but the polygon
    win.state.dose.lines = False
    win.tri.refresh()
    win.choose_tool("polygon")
    view = win.tri.views[0]
    z, y, x = win.state.cursor
    port = view.graphics.viewport()
    shape = win.scene.shape
    qtbot.wait(20)
    base = _yellow(view).sum()
    pts = [(z, y - 8, x - 8), (z, y - 8, x + 8), (z, y + 8, x + 8)]
    qtbot.mouseClick(port, QtCore.Qt.MouseButton.LeftButton, pos=view_point(view, pts[0], shape))
    win.tri.views[0].hovered.emit(0, (z, y + 8, x - 8))
    qtbot.wait(20)
    one = _yellow(view).sum()
    assert view.polygon_vertices.isVisible() and one > base  # the first vertex and the band to the pointer
    for p in pts[1:]:
        qtbot.mouseClick(port, QtCore.Qt.MouseButton.LeftButton, pos=view_point(view, p, shape))
    win.tri.views[0].hovered.emit(0, (z, y + 8, x - 8))
    qtbot.wait(20)
    assert _yellow(view).sum() > one  # two edges, the band and three vertices
    assert len(view.polygon_vertices.data) == 3
    # the edges run through the clicked voxels
    a = view.polygon_path.path().pointAtPercent(0.0)
    r, c = view.voxel_to_display(pts[0])
    row_mm, col_mm = view_aspect(view)
    tol = max(view.vb.viewPixelSize())  # a click lands within one screen pixel of the voxel centre
    assert abs(a.x() - (c + 0.5) * col_mm) <= tol and abs(a.y() - (r + 0.5) * row_mm) <= tol
    qtbot.keyClick(win, QtCore.Qt.Key.Key_Return)  # closed and filled: the outline goes
    assert not view.polygon_vertices.isVisible() and not view.polygon_path.isVisible()
    assert win.edit.session.working(("CTVT_427", "step1_obsF")).to_full()[z, y + 4, x + 6]


@pytest.mark.slow
def test_an_edit_the_editable_area_forbids_says_why(editing, drag, qtbot):
    win = editing
    ep = win.edit_panel
    ep.area_mode.setCurrentText("outside")
    body = next(i for i in range(ep.area_struct.count()) if tuple(ep.area_struct.itemData(i)) == ("BODY", "clinical"))
    ep.area_struct.setCurrentIndex(body)
    work = win.edit.session.working(("CTVT_427", "step1_obsF"))
    before = work.to_full()
    z, y, x = win.state.cursor
    win.statusBar().clearMessage()
    drag(win.tri.views[0], [(z, y, x + 10), (z, y, x + 14)], win.scene.shape)
    assert np.array_equal(work.to_full(), before)
    msg = win.statusBar().currentMessage()
    assert "Nothing changed" in msg and "outside BODY" in msg and "Editable area" in msg
    # an allowed edit says nothing of the sort
    ep.area_mode.setCurrentText("everywhere")
    win.statusBar().clearMessage()
    drag(win.tri.views[0], [(z, y, x + 10), (z, y, x + 14)], win.scene.shape)
    assert not np.array_equal(work.to_full(), before)
    assert "Nothing changed" not in win.statusBar().currentMessage()


@pytest.mark.slow
def test_fill_between_slices_says_why_nothing_changed(editing):
    win = editing
    win.choose_tool("interpolate")
    work = win.edit.session.working(("CTVT_427", "step1_obsF"))
    before = work.to_full()
    win.apply_tool()  # the DL CTV is contoured on every slice: no gap to fill
    assert np.array_equal(work.to_full(), before)
    msg = win.statusBar().currentMessage()
    assert "nothing to fill" in msg and "follow each other" in msg
    zs = np.flatnonzero(before.any(axis=(1, 2)))
    assert f"{len(zs)} contoured slices ({zs[0] + 1}-{zs[-1] + 1})" in msg


class _PaintSpy(QtCore.QObject):
    def __init__(self) -> None:
        super().__init__()
        self.region = QtGui.QRegion()

    def eventFilter(self, obj, ev):
        if ev.type() == QtCore.QEvent.Type.Paint:
            self.region = self.region.united(ev.region())
        return False


@pytest.mark.slow
def test_moving_the_crosshair_repaints_the_black_band_of_a_zoomed_view(window, qtbot):
    # Stale copies of the crosshair were left in the band around the image when only the line's
    # own (outdated) rectangle was repainted.
    view = window.tri.views[2]  # sagittal: short and wide, with a band above and below
    (x0, x1), (y0, y1) = view.vb.viewRange()
    view.vb.scaleBy((0.5, 0.5), center=QtCore.QPointF((x0 + x1) / 2, y0 + 0.2 * (y1 - y0)))
    qtbot.wait(20)
    port = view.graphics.viewport()
    spy = _PaintSpy()
    port.installEventFilter(spy)
    z, y, x = window.state.cursor
    for dy in (-12, -6, 6, 12):
        spy.region = QtGui.QRegion()
        window.tri.set_cursor((z, y + dy, x))  # the sagittal slice stays: only its crosshair moves
        qtbot.waitUntil(lambda: not spy.region.isEmpty(), timeout=2000)
        assert QtGui.QRegion(port.rect()).subtracted(spy.region).isEmpty(), list(spy.region)
    port.removeEventFilter(spy)


@pytest.mark.slow
def test_the_edit_panel_shows_its_essentials_without_scrolling_on_a_1366x768_screen(editing, qtbot):
    win = editing
    win.resize(1366, 768)
    win.choose_tool("brush")
    qtbot.waitUntil(lambda: win.height() <= 768 and win.edit_panel.isVisible(), timeout=2000)
    qtbot.wait(50)
    win.edit_panel.refresh()
    ep = win.edit_panel
    scroll = ep.parentWidget().parentWidget()
    assert isinstance(scroll, QtWidgets.QScrollArea) and scroll.verticalScrollBar().value() == 0
    port = scroll.viewport()
    essentials = [*ep.tool_buttons.values(), ep.option("brush", "radius_mm"), ep.undo_btn, ep.redo_btn, ep.save_btn]
    essentials.append(ep.stats)
    for w in essentials:
        bottom = w.mapTo(port, QtCore.QPoint(0, w.height())).y()
        assert w.isVisible() and bottom <= port.height(), (w, bottom, port.height())
    assert "added" in ep.stats.text()
    # a restriction folded away is still named
    ep.area_mode.setCurrentText("outside")
    assert ep.area_toggle.isVisible() and "outside" in ep.area_toggle.text()
    # unfolded, nothing is cut off at the side either
    ep.area_toggle.setChecked(True)
    qtbot.wait(50)
    assert ep.area_mode.isVisible() and scroll.horizontalScrollBar().maximum() == 0
