"""Qt fixtures: a main window showing the demo patient, fully loaded, and a mouse drag in a view."""

import time

import pytest
from PySide6 import QtCore

import lundprobe_gui as lp
from lundprobe_gui.render.slicing import voxel_to_display


@pytest.fixture()
def window(qtbot, demo_patient_path):
    from lundprobe_gui.app import make_application
    from lundprobe_gui.ui.loader import load_patient
    from lundprobe_gui.ui.main_window import MainWindow

    make_application()
    win = MainWindow()
    win.ask = lambda *a, **k: "Discard"  # never block on a modal prompt; tests that check prompts override it
    qtbot.addWidget(win)
    win.resize(1400, 900)
    patient = lp.open_patient(demo_patient_path)
    win.set_patient(patient)
    load_patient(patient)
    win.loader.image_ready.emit(patient)
    win.loader.finished.emit(patient)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.loader.cancel()


def displayed_aspect(view):
    """(row, col) millimetres per image pixel, as the slice image is laid out in the view box."""
    rect = view.image.mapRectToParent(view.image.boundingRect())
    return rect.height() / view.image.height(), rect.width() / view.image.width()


def widget_point(view, zyx, shape):
    """The viewport pixel at the centre of voxel ``zyx`` in a slice view."""
    r, c = voxel_to_display(view.axis, zyx, shape)
    row_mm, col_mm = displayed_aspect(view)
    scene_pt = view.vb.mapViewToScene(QtCore.QPointF((c + 0.5) * col_mm, (r + 0.5) * row_mm))
    return view.graphics.mapFromScene(scene_pt)


@pytest.fixture()
def drag(qtbot):
    """``drag(view, voxels, shape)``: press on the first voxel, move through the others, release on the last."""

    def _drag(view, points, shape):
        port = view.graphics.viewport()
        pts = [widget_point(view, p, shape) for p in points]
        qtbot.mousePress(port, QtCore.Qt.MouseButton.LeftButton, pos=pts[0])
        for p in pts[1:]:
            qtbot.mouseMove(port, p)
            qtbot.wait(5)
        qtbot.mouseRelease(port, QtCore.Qt.MouseButton.LeftButton, pos=pts[-1])

    return _drag


@pytest.fixture()
def editing(window, tmp_path):
    """The window editing a copy of the DL CTV (saved as step1_obsF) with a 4 mm brush."""
    window.edit.out_dir = tmp_path / "edits"
    window.edit_panel.target.setText("step1_obsF")
    assert window.edit_panel.select("CTVT_427", "nnUNet")
    window.edit_panel.start_btn.click()
    window.choose_tool("brush")
    window.edit.set_brush_radius(4.0)
    return window


@pytest.fixture()
def view_aspect():
    """``view_aspect(view)``: (row, col) millimetres per image pixel of a slice view, as displayed."""
    return displayed_aspect


@pytest.fixture()
def view_point():
    """``view_point(view, zyx, shape)``: the viewport pixel at the centre of a voxel."""
    return widget_point


class FakeClock:
    """A clock the test moves by hand (POSIX seconds); :func:`fake_clock` installs it."""

    def __init__(self, start: float) -> None:
        self.now = start

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def time(self) -> float:
        return self.now

    monotonic = time


@pytest.fixture()
def fake_clock(monkeypatch):
    """Session event times, the window's input throttle and the study's live clock, read from a :class:`FakeClock`.

    It starts at a whole second of the real time (a study checks event times against it) and moves
    only when the test calls ``advance``, so active times are exact.
    """
    from lundprobe_gui.session import clock
    from lundprobe_gui.ui import session_mode, study_case_panel

    fake = FakeClock(float(int(time.time())))
    for module in (clock, session_mode, study_case_panel):  # the modules that read the time with time.time()
        monkeypatch.setattr(module, "time", fake)
    return fake


@pytest.fixture()
def study_window(qtbot):
    """A factory of main windows ready for a study: no modal prompt, messages collected, loading in the foreground.

    ``study_window(pin=None)`` returns ``(window, study_mode)``; with ``pin`` the admin PIN and reason
    prompts answer it and "test".
    """

    def make(pin: str | None = None):
        from lundprobe_gui.app import make_application
        from lundprobe_gui.ui.main_window import MainWindow

        make_application()
        win = MainWindow()
        win.ask = lambda *a, **k: pytest.fail(f"the window asked {a!r} during a study")
        qtbot.addWidget(win)
        win.resize(1500, 950)
        win.show()
        qtbot.waitExposed(win)
        mode = win.study_mode
        mode.background = False
        mode.messages = []
        mode.inform = lambda title, text, warning=False: mode.messages.append((title, text))
        mode.ask = lambda text, info, buttons: buttons[0]
        if pin is not None:
            mode.ask_pin = lambda text: pin
            mode.ask_reason = lambda text: "test"
        return win, mode

    return make
