"""Shared fixtures: small synthetic LUND-PROBE datasets generated once per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# the tests replay fixed event times (a 28-day washout in a second): only the test suite enables this
os.environ["LUNDPROBE_INJECTED_CLOCK"] = "1"

from lundprobe_gui.demo import DemoOptions, generate


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """A read-only-by-convention dataset root with one small extended patient (seed 1)."""
    root = tmp_path_factory.mktemp("demo") / "ds"
    generate(root, DemoOptions(patients=1, part="extended", size="small", seed=1))
    return root


@pytest.fixture(scope="session")
def demo_patient_path(demo_root) -> Path:
    """The single patient folder of :func:`demo_root`."""
    return next(p for p in demo_root.iterdir() if p.is_dir())


@pytest.fixture()
def patient_copy(demo_root, tmp_path) -> Path:
    """A private copy of the demo patient (with its dataset root) that a test may damage."""
    dst = tmp_path / "ds"
    shutil.copytree(demo_root, dst)
    return next(p for p in dst.iterdir() if p.is_dir())


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path, monkeypatch):
    """Keep caches, recovery files and settings of tests out of the real home folder."""
    monkeypatch.setenv("LUNDPROBE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LUNDPROBE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    import sys

    if "PySide6.QtCore" in sys.modules:  # Qt reads XDG_CONFIG_HOME once per process: point its settings here again
        from PySide6.QtCore import QSettings

        for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
            QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "config"))


@pytest.fixture(autouse=True)
def _collect_garbage_between_tests():
    """Once a QApplication exists, cyclic garbage is collected on a GUI-thread timer only (ui/gc_guard.py);
    tests that run no event loop would never see it collected, so run that timer's check after each test.

    The check collects the generations whose thresholds are exceeded, as the interpreter would: a full
    collection after every test cost about a quarter of a second each, a third of the fast tier.
    """
    yield
    import gc

    if gc.isenabled():
        return
    import sys

    collector = None
    if "lundprobe_gui.ui.gc_guard" in sys.modules:
        from PySide6.QtWidgets import QApplication

        from lundprobe_gui.ui.gc_guard import GuiThreadCollector

        app = QApplication.instance()
        collector = app.findChild(GuiThreadCollector) if app is not None else None
    if collector is not None:
        collector.check()
    else:
        gc.collect()
