"""In the window: the same click and the same brush stroke land on the same anatomy whatever the storage order."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore

import lundprobe_gui as lp
from lundprobe_gui.core.orientation import Orientation

from .phantom import write_phantom

CLICKS = {0: (7.0, 15.0), 1: (4.0, 9.0), 2: (6.0, 6.0)}  # display (row, col) per view


@pytest.fixture()
def open_window(qtbot):
    from lundprobe_gui.app import make_application
    from lundprobe_gui.ui.loader import load_patient
    from lundprobe_gui.ui.main_window import MainWindow

    make_application()
    made = []

    def _open(folder):
        win = MainWindow()
        win.ask = lambda *a, **k: "Discard"
        qtbot.addWidget(win)
        win.resize(1300, 850)
        p = lp.open_patient(folder)
        win.set_patient(p)
        load_patient(p)
        win.loader.image_ready.emit(p)
        win.loader.finished.emit(p)
        win.show()
        qtbot.waitExposed(win)
        made.append(win)
        return win

    yield _open
    for w in made:
        w.loader.cancel()


def _widget_point(view, row, col):
    rect = view.image.mapRectToParent(view.image.boundingRect())  # the slice as laid out in the view box
    row_mm, col_mm = rect.height() / view.image.height(), rect.width() / view.image.width()
    scene_pt = view.vb.mapViewToScene(QtCore.QPointF((col + 0.5) * col_mm, (row + 0.5) * row_mm))
    return view.graphics.mapFromScene(scene_pt)


def _world(win, zyx):
    return win.patient.geometry.index_to_world(np.asarray(zyx, float)[::-1])


def _click_all(win, qtbot):
    """Click each view once at its display point; the world position of the cursor after each click."""
    out = {}
    for axis, (row, col) in CLICKS.items():
        view = win.tri.views[axis]
        qtbot.mouseClick(view.graphics.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=_widget_point(view, row, col))
        out[axis] = _world(win, win.state.cursor)
    return out


def _paint(win, qtbot):
    """A new structure, one brush click in the axial view at its display point; the mask in LPS order."""
    win.edit.new_structure("Mark", "edit")
    win.choose_tool("brush")
    view = win.tri.views[0]
    qtbot.mouseClick(view.graphics.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=_widget_point(view, *CLICKS[0]))
    mask = win.edit.session.working(("Mark", "edit")).to_full()
    return Orientation.from_geometry(win.patient.geometry).view(mask)


@pytest.mark.parametrize("code", ["RAS", "PIR"])
@pytest.mark.slow
def test_clicks_views_and_brush_match_the_lps_window(open_window, qtbot, tmp_path, code):
    lps = open_window(write_phantom(tmp_path / "LPS", "LPS"))
    other = open_window(write_phantom(tmp_path / code, code))
    for axis in range(3):
        np.testing.assert_array_equal(other.tri.views[axis].image.image, lps.tri.views[axis].image.image)
        assert {k: lab.text() for k, lab in other.tri.views[axis].letters.items()} == {
            k: lab.text() for k, lab in lps.tri.views[axis].letters.items()
        }
    want, got = _click_all(lps, qtbot), _click_all(other, qtbot)
    for axis in range(3):
        np.testing.assert_allclose(got[axis], want[axis], atol=1e-6)
    for axis in range(3):  # after the clicks every view shows the same slice again
        np.testing.assert_array_equal(other.tri.views[axis].image.image, lps.tri.views[axis].image.image)
    painted = _paint(other, qtbot)
    assert painted.any()
    np.testing.assert_array_equal(painted, _paint(lps, qtbot))
    np.testing.assert_array_equal(other.tri.views[0].image.image, lps.tri.views[0].image.image)


@pytest.mark.slow
def test_wheel_steps_through_anatomy_the_same_way(open_window, qtbot, tmp_path):
    lps = open_window(write_phantom(tmp_path / "LPS", "LPS"))
    ras = open_window(write_phantom(tmp_path / "RAS", "RAS"))
    for win in (lps, ras):
        win.tri.active_axis = 1  # coronal: RAS stores A->P backwards
        qtbot.keyClick(win, QtCore.Qt.Key.Key_Up)
    np.testing.assert_allclose(_world(ras, ras.state.cursor), _world(lps, lps.state.cursor), atol=1e-6)
    np.testing.assert_array_equal(ras.tri.views[1].image.image, lps.tri.views[1].image.image)
    assert ras.tri.views[1].index == lps.tri.views[1].index
