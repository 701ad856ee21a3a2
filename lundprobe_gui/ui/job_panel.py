"""What the analysis panels (metrics, DVH, uncertainty versus edits) share.

:class:`BackgroundJob` runs one computation at a time off the UI thread (results come back by
queued signals, stale results are dropped); :class:`JobPanel` is the panel around it: a progress
bar, a status line, cancel/wait, and CSV export. :class:`SortItem` is a table cell that sorts by
value, empty cells last.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtWidgets

from ..metrics.table import format_value

if TYPE_CHECKING:
    from ..core.patient import Patient

logger = logging.getLogger(__name__)

JobFn = Callable[[Callable[[int, int], None], Callable[[], bool]], Any]
"""``fn(progress, should_stop) -> result``, run in the worker thread."""


class BackgroundJob(QtCore.QObject):
    """Runs one function at a time in a worker thread and reports through signals.

    Every :meth:`start` gets a new generation number, and signals carry it; starting again
    asks the previous run to stop, and receivers ignore signals of an older generation. So a
    quick second click, or a new patient, never shows stale results.
    """

    progress = QtCore.Signal(int, int, int)  # generation, done, total
    finished = QtCore.Signal(int, object)  # generation, result
    failed = QtCore.Signal(int, str)  # generation, message

    def __init__(self, name: str, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.generation = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, fn: JobFn) -> int:
        """Cancel any running job and start ``fn``; return its generation."""
        self.cancel()
        self.generation += 1
        gen = self.generation
        stop = threading.Event()
        self._stop = stop

        def work() -> None:
            try:
                result = fn(lambda d, t: self.progress.emit(gen, d, t), stop.is_set)
            except Exception as e:  # noqa: BLE001 - shown to the user, never kills the app
                logger.error("%s failed: %s", self.name, traceback.format_exc())
                self.failed.emit(gen, f"{type(e).__name__}: {e}")
                return
            if not stop.is_set():
                self.finished.emit(gen, result)

        self._thread = threading.Thread(target=work, name=self.name, daemon=True)
        self._thread.start()
        return gen

    def cancel(self) -> None:
        """Ask the running job to stop at its next check; its result will be dropped."""
        self._stop.set()

    def is_running(self) -> bool:
        """Whether a worker thread is still busy."""
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker ends (tests, shutdown); True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.is_running()


class SortItem(QtWidgets.QTableWidgetItem):
    """A read-only cell showing ``text`` and sorting by ``value`` (None sorts after any number)."""

    def __init__(self, value: Any, text: str | None = None) -> None:
        super().__init__(format_value(value) if text is None else text)
        self.value = value
        self.setFlags(self.flags() & ~QtCore.Qt.ItemFlag.ItemIsEditable)
        if isinstance(value, (int, float)):
            self.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QtWidgets.QTableWidgetItem) -> bool:
        a = self.value
        b = getattr(other, "value", other.text())
        if a is None or b is None:
            return a is not None and b is None
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a < b
        return str(a) < str(b)


def save_csv_dialog(parent: QtWidgets.QWidget, suggested: str) -> str | None:
    """Ask for a CSV file name; None when cancelled."""
    path, _ = QtWidgets.QFileDialog.getSaveFileName(parent, "Export CSV", suggested, "CSV files (*.csv)")
    return path or None


class JobPanel(QtWidgets.QWidget):
    """A panel that computes on a :class:`BackgroundJob` and exports what it shows as CSV.

    A subclass sets :attr:`TITLE` (named in failure messages) and :attr:`EXPORT_STEM` (the
    suggested CSV name), builds its widgets with :meth:`_make_job_widgets`, and implements
    ``export_csv(path)`` and ``_on_finished(generation, result)``.
    """

    TITLE = "Computation"
    EXPORT_STEM = "export"
    busy_changed = QtCore.Signal(bool)

    def __init__(self, job_name: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.patient: Patient | None = None
        self.computed_for: Patient | None = None
        """The patient of the last computation started (None: nothing computed yet)."""
        self._job = BackgroundJob(job_name, self)
        self._job.progress.connect(self._on_progress)
        self._job.finished.connect(self._on_finished)
        self._job.failed.connect(self._on_failed)

    def _make_job_widgets(self) -> None:
        self.compute_btn = QtWidgets.QPushButton("Compute")
        self.export_btn = QtWidgets.QPushButton("Export CSV…")
        self.export_btn.setEnabled(False)
        self.progress_bar = QtWidgets.QProgressBar()
        self.progress_bar.setMaximumWidth(160)
        self.progress_bar.setVisible(False)
        self.status = QtWidgets.QLabel("")
        self.export_btn.clicked.connect(self._export_clicked)

    def _start_job(self, fn: JobFn, total: int | None, text: str) -> None:
        """Run ``fn`` in the background; ``total`` steps, or None for a busy indicator."""
        self._set_busy(True)
        self.computed_for = self.patient
        self.progress_bar.setRange(0, 0 if total is None else max(1, total))
        self.progress_bar.setValue(0)
        self.status.setText(text)
        self._job.start(fn)

    def cancel(self) -> None:
        """Stop a running computation (its results are dropped)."""
        self._job.cancel()
        self._set_busy(False)

    def is_busy(self) -> bool:
        """Whether a computation is running."""
        return self._job.is_running()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker thread ends (tests, shutdown)."""
        return self._job.wait(timeout)

    def export_csv(self, path: str | Path) -> Path:  # pragma: no cover - every panel overrides it
        """Write what the panel shows to a CSV file."""
        raise NotImplementedError

    def _set_busy(self, busy: bool) -> None:
        self.progress_bar.setVisible(busy)
        self.compute_btn.setEnabled(not busy)
        self.busy_changed.emit(busy)

    def _on_progress(self, gen: int, done: int, total: int) -> None:
        if gen == self._job.generation:
            self.progress_bar.setRange(0, max(1, total))
            self.progress_bar.setValue(done)

    def _on_finished(self, gen: int, result: Any) -> None:  # pragma: no cover - every panel overrides it
        raise NotImplementedError

    def _on_failed(self, gen: int, message: str) -> None:
        if gen != self._job.generation:
            return
        self._set_busy(False)
        self.status.setText(f"{self.TITLE} failed: {message}")

    def _export_clicked(self) -> None:
        pid = getattr(self.patient, "id", None)
        name = f"{self.EXPORT_STEM}_{pid}.csv" if pid else f"{self.EXPORT_STEM}.csv"
        path = save_csv_dialog(self, name)
        if not path:
            return
        try:
            out = self.export_csv(path)
        except OSError as e:
            QtWidgets.QMessageBox.warning(self, "Export CSV", f"Cannot write {path}: {e}")
            return
        self.status.setText(f"Wrote {out}")
