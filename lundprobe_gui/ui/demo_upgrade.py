"""The full-resolution demo patient, generated in a background process while the coarse preview is shown.

The first start shows the coarse demo patient within seconds; generating the full one (the dataset's
0.47 mm grid) takes about 40 s of CPU, so it runs in a separate, lower-priority process that cannot
stall the window. Later starts open the full patient directly.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from .. import demo

logger = logging.getLogger(__name__)


def generator_command(out: Path, size: str = demo.DEFAULT_SIZE) -> list[str]:
    """The command line that writes the demo dataset into ``out`` (``lundprobe-gui demo``), niced where possible."""
    # a bundle's executable is the command itself
    cmd = [sys.executable, "demo"] if getattr(sys, "frozen", False) else [sys.executable, "-m", "lundprobe_gui", "demo"]
    cmd += [str(out), "--size", size, "--part", "extended", "--seed", "0"]
    nice = shutil.which("nice") if sys.platform != "win32" else None
    return [nice, "-n", "10", *cmd] if nice else cmd


class DemoUpgrade(QtCore.QObject):
    """Generates the full demo patient in a child process; ``ready(path)`` when it is in place."""

    ready = QtCore.Signal(object)  # Path of the patient folder
    failed = QtCore.Signal(str)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._proc: QtCore.QProcess | None = None
        self._tmp: Path | None = None

    def running(self) -> bool:
        """Whether a generation is under way."""
        return self._proc is not None

    def start(self) -> bool:
        """Start generating (False when the full patient exists already or a generation runs)."""
        if self._proc is not None or demo.demo_ready() is not None:
            return False
        demo.sweep_partials()
        self._tmp = demo.partial_dir()
        self._tmp.parent.mkdir(parents=True, exist_ok=True)
        cmd = generator_command(self._tmp)
        proc = QtCore.QProcess(self)
        proc.setProcessChannelMode(QtCore.QProcess.ProcessChannelMode.MergedChannels)
        proc.finished.connect(self._finished)
        proc.errorOccurred.connect(self._error)
        self._proc = proc
        logger.info("generating the full-resolution demo patient: %s", " ".join(cmd))
        proc.start(cmd[0], cmd[1:])
        return True

    def _finished(self, code: int, status) -> None:
        proc, tmp = self._proc, self._tmp
        self._proc = self._tmp = None
        if proc is None or tmp is None:
            return
        out = bytes(proc.readAll().data()).decode(errors="replace").strip()
        proc.deleteLater()
        if code != 0 or status != QtCore.QProcess.ExitStatus.NormalExit:
            shutil.rmtree(tmp, ignore_errors=True)
            logger.warning("generating the full demo patient failed (%s): %s", code, out[-500:])
            self.failed.emit(out.splitlines()[-1] if out else f"exit code {code}")
            return
        try:
            path = demo.install_generated(tmp)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            self.failed.emit(str(e))
            return
        self.ready.emit(path)

    def _error(self, err) -> None:
        if err == QtCore.QProcess.ProcessError.FailedToStart and self._proc is not None:
            self._finished(-1, QtCore.QProcess.ExitStatus.CrashExit)

    def cancel(self) -> None:
        """Stop the generation (the app is closing); its partial folder is removed."""
        proc, tmp = self._proc, self._tmp
        self._proc = self._tmp = None
        if proc is not None:
            proc.finished.disconnect(self._finished)
            proc.kill()
            proc.waitForFinished(3000)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


class DemoPreview(QtCore.QObject):
    """The window's side of it: the coarse preview is labelled, the full patient generated and offered.

    ``window`` is the main window: its status bar gets the "Open the full-resolution demo" button, and
    its ``open_path`` opens the full patient when the user clicks it.
    """

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.full: Path | None = None
        self.upgrade = DemoUpgrade(self)
        self.upgrade.ready.connect(self._ready)
        self.upgrade.failed.connect(
            lambda why: window.statusBar().showMessage(
                f"The full-resolution demo patient could not be made: {why}", 15000
            )
        )
        self.button = QtWidgets.QPushButton("Open the full-resolution demo")
        self.button.setToolTip("The demo patient at the dataset's 0.47 mm resolution is ready")
        self.button.setVisible(False)
        self.button.clicked.connect(self._open)
        window.statusBar().addPermanentWidget(self.button)

    @staticmethod
    def is_preview(patient) -> bool:
        """Whether ``patient`` is the coarse demo preview."""
        return patient is not None and demo.is_demo_patient(patient.path, "small")

    def title_suffix(self, patient) -> str:
        """Text for the window title of ``patient``; the button goes once another patient is shown."""
        if self.is_preview(patient):
            return ", coarse demo preview"
        self.button.setVisible(False)
        return ""

    def loaded(self, patient) -> None:
        """The preview has loaded: generate the full patient in the background and say so."""
        if self.is_preview(patient) and self.upgrade.start():
            self.window.statusBar().showMessage(
                "This is a coarse preview of the demo patient; the full-resolution one (0.47 mm, as in the "
                "dataset) is being generated in the background, about a minute.",
                30000,
            )

    def _ready(self, path: Path) -> None:
        self.full = path
        self.button.setVisible(self.is_preview(self.window.patient))
        self.window.statusBar().showMessage(
            "The full-resolution demo patient is ready; later starts open it directly", 15000
        )

    def _open(self) -> None:
        self.button.setVisible(False)
        if self.full is not None:
            self.window.open_path(self.full)

    def cancel(self) -> None:
        """The window is closing."""
        self.upgrade.cancel()
