"""The first start: a coarse preview of the demo patient within seconds, the full-resolution one after."""

import sys

import pytest

from lundprobe_gui import demo


@pytest.mark.slow
def test_first_run_shows_a_coarse_preview_then_offers_the_full_patient(qtbot, monkeypatch):
    from lundprobe_gui.app import make_application
    from lundprobe_gui.ui import demo_upgrade
    from lundprobe_gui.ui.main_window import MainWindow

    # the real background generation writes the full patient (a minute); a small one stands in for it
    monkeypatch.setattr(
        demo_upgrade,
        "generator_command",
        lambda out, size="full": [sys.executable, "-m", "lundprobe_gui", "demo", str(out), "--seed", "3"],
    )
    make_application()
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    assert demo.demo_ready() is None
    with qtbot.waitSignal(win.loader.finished, timeout=60000):
        win.open_path(None)
    assert demo.is_demo_patient(win.patient.path, "small")
    assert "coarse demo preview" in win.windowTitle()
    assert win.tri.views[0].image.image is not None
    assert win.demo_upgrade.running()
    with qtbot.waitSignal(win.demo_upgrade.ready, timeout=120000):
        pass
    full = demo.demo_ready()
    assert full is not None and not win.demo_upgrade.running()
    assert win.full_demo_btn.isVisible()
    with qtbot.waitSignal(win.loader.finished, timeout=60000):
        win.full_demo_btn.click()
    assert win.patient.path == full and "coarse" not in win.windowTitle()
    assert not win.full_demo_btn.isVisible()
    win.loader.cancel()

    # a later start opens the full patient directly and generates nothing
    later = MainWindow()
    qtbot.addWidget(later)
    with qtbot.waitSignal(later.loader.finished, timeout=60000):
        later.open_path(None)
    assert later.patient.path == full and not later.demo_upgrade.running()
    later.loader.cancel()


@pytest.mark.slow
def test_closing_the_window_stops_the_background_generation(qtbot, monkeypatch):
    from lundprobe_gui.app import make_application
    from lundprobe_gui.ui import demo_upgrade
    from lundprobe_gui.ui.main_window import MainWindow

    monkeypatch.setattr(
        demo_upgrade,
        "generator_command",
        lambda out, size="full": [sys.executable, "-c", "import time, pathlib, sys; time.sleep(60)", str(out)],
    )
    make_application()
    win = MainWindow()
    qtbot.addWidget(win)
    assert win.demo_upgrade.start()
    proc = win.demo_upgrade._proc  # noqa: SLF001 - the generator's QProcess has no public handle
    qtbot.waitUntil(lambda: proc.state() == proc.ProcessState.Running, timeout=10000)
    tmp = win.demo_upgrade._tmp  # noqa: SLF001 - its partial folder name is random and kept private
    win.close()
    assert not win.demo_upgrade.running() and not tmp.exists()
    assert demo.demo_ready() is None
