"""Builds the QApplication and the main window; the only place where both sides meet at start-up."""

from __future__ import annotations

import gc
import logging
import os
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

ORGANISATION = "lundprobe"
APPLICATION = "lundprobe-gui"


def make_application(argv: list[str] | None = None):
    """The QApplication (created once) with organisation and application names set."""
    import pyqtgraph as pg
    from PySide6 import QtCore, QtWidgets

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, exitCleanup=False)
    QtCore.QCoreApplication.setOrganizationName(ORGANISATION)
    QtCore.QCoreApplication.setApplicationName(APPLICATION)
    from .version import __version__

    QtCore.QCoreApplication.setApplicationVersion(__version__)
    existing = QtWidgets.QApplication.instance()
    app = existing if isinstance(existing, QtWidgets.QApplication) else QtWidgets.QApplication(argv or [sys.argv[0]])
    from PySide6 import QtGui

    from .ui.icon import app_icon

    QtGui.QGuiApplication.setDesktopFileName("org.lundprobe.lundprobe_gui")  # matches the .desktop entry
    app.setWindowIcon(app_icon())
    from .ui import gc_guard

    gc_guard.install(app)
    QtCore.qInstallMessageHandler(_qt_message)
    return app


def _qt_message(mode, _context, message: str) -> None:
    """Qt's own warnings go through logging, so ``--quiet`` and ``-v`` decide about them as about any other."""
    from PySide6 import QtCore

    level = {
        QtCore.QtMsgType.QtDebugMsg: logging.DEBUG,
        QtCore.QtMsgType.QtInfoMsg: logging.INFO,
        QtCore.QtMsgType.QtWarningMsg: logging.WARNING,
    }.get(mode, logging.ERROR)
    logging.getLogger("qt").log(level, "%s", message)


def shutdown(app, *windows) -> None:
    """Tear Qt objects down in order, so the interpreter exits cleanly (code 0).

    Deleting the windows while the event loop still runs, then collecting, avoids the crash at
    interpreter exit that pyqtgraph, PySide6 6.12 and numpy 2.x can otherwise produce.
    """
    for w in windows:
        if w is None:
            continue
        loader = getattr(w, "loader", None)
        if loader is not None:
            loader.cancel()
            loader.wait(10)
        w.close()
        w.deleteLater()
    app.processEvents()
    app.sendPostedEvents(None, 0)
    gc.collect()


def run_app(path: str | None = None) -> int:
    """Start the GUI on ``path`` (the demo patient when None) and run the event loop."""
    app = make_application()
    from .ui.main_window import MainWindow

    win = MainWindow()
    win.show()
    win.open_path(Path(path) if path else None)
    code = app.exec()
    shutdown(app, win)
    del win
    gc.collect()
    return int(code)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("QT_QPA_PLATFORM", os.environ.get("QT_QPA_PLATFORM", ""))
    sys.exit(run_app(sys.argv[1] if len(sys.argv) > 1 else None))
