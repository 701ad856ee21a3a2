"""File > Recent patients: the folders are remembered as absolute paths, so they open from anywhere."""

from __future__ import annotations

import lundprobe_gui as lp


def test_a_patient_opened_by_a_relative_path_is_remembered_absolute(demo_patient_path, qtbot, monkeypatch) -> None:
    from lundprobe_gui.app import make_application
    from lundprobe_gui.ui.main_window import MainWindow

    make_application()
    win = MainWindow()
    qtbot.addWidget(win)
    # an entry written by an older version, relative to wherever the app was started then
    win.settings.setValue("recent", ["ds/LUNDPROBE_0436", "/data/LUNDPROBE_0001"])
    monkeypatch.chdir(demo_patient_path.parent.parent)
    relative = demo_patient_path.relative_to(demo_patient_path.parent.parent)
    win.set_patient(lp.open_patient(relative))
    assert win.recent() == [str(demo_patient_path.absolute()), "/data/LUNDPROBE_0001"]
    entries = [a.text() for a in win.recent_menu.actions()]
    assert entries == win.recent()
    # the same folder opened again by its absolute path is not listed twice
    win.set_patient(lp.open_patient(demo_patient_path.absolute()))
    assert win.recent() == [str(demo_patient_path.absolute()), "/data/LUNDPROBE_0001"]
