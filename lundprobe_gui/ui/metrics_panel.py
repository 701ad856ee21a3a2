"""The metrics panel: the patient's comparison set in a sortable table, computed off the UI thread.

Also holds two helpers the DVH panel and the uncertainty plot share: :class:`BackgroundJob`
(one worker thread at a time, results delivered by queued signals, stale results dropped) and
:class:`SortItem` (a table cell that sorts by value, empty cells last).
"""
from __future__ import annotations

import logging
import threading
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable

from PySide6 import QtCore, QtWidgets

from ..core.patient import Patient
from ..metrics.compare import (DEFAULT_TOLERANCE_MM, KIND_LABELS, KINDS, METRICS_ROW_KEYS, Comparison, MaskGetter,
                               compare_patient, patient_comparisons)
from ..metrics.table import format_value, write_csv

logger = logging.getLogger(__name__)

JobFn = Callable[[Callable[[int, int], None], Callable[[], bool]], Any]
"""``fn(progress, should_stop) -> result``, run in the worker thread."""


class BackgroundJob(QtCore.QObject):
    """Runs one function at a time in a worker thread and reports through signals.

    Every :meth:`start` gets a new generation number, and signals carry it; starting again
    asks the previous run to stop, and receivers ignore signals of an older generation. So a
    quick second click, or a new patient, never shows stale results.
    """

    progress = QtCore.Signal(int, int, int)    # generation, done, total
    finished = QtCore.Signal(int, object)      # generation, result
    failed = QtCore.Signal(int, str)           # generation, message

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


COLUMNS: tuple[tuple[str, str], ...] = (
    ("structure", "Structure"), ("comparison", "Comparison"), ("reference", "Reference"), ("test", "Test"),
    ("dice", "Dice"), ("jaccard", "Jaccard"), ("hd_mm", "HD (mm)"), ("hd95_mm", "HD95 (mm)"),
    ("msd_mm", "MSD (mm)"), ("surface_dice", "Surface Dice"), ("apl_mm", "APL (mm)"), ("fnpl_mm", "FNPL (mm)"),
    ("volume_reference_cc", "Ref. vol. (cc)"), ("volume_test_cc", "Test vol. (cc)"),
    ("centroid_shift_mm", "Centroid shift (mm)"),
)
"""(row key, header) of the table columns."""

ROW_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1


class MetricsPanel(QtWidgets.QWidget):
    """The comparison set of the shown patient (see :mod:`lundprobe_gui.metrics.compare`).

    Use: :meth:`set_patient` when a patient is shown, :meth:`set_hidden_sources` in a blinded
    study session, :meth:`set_mask_provider` to include unsaved working copies, and
    :meth:`refresh` (or the Compute button) to compute in the background.

    Signals
    -------
    computed(list)
        All rows, after a computation finished.
    pair_activated(object)
        A :class:`~lundprobe_gui.metrics.compare.Comparison` whose row was double-clicked (e.g.
        to show both contours or their edit map).
    busy_changed(bool)
        A computation started or ended.
    """

    computed = QtCore.Signal(list)
    pair_activated = QtCore.Signal(object)
    busy_changed = QtCore.Signal(bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.patient: Patient | None = None
        self._rows: list[dict] = []
        self._hidden: set[str] = set()
        self._mask_provider: MaskGetter | None = None
        self._job = BackgroundJob("metrics-panel", self)
        self._job.progress.connect(self._on_progress)
        self._job.finished.connect(self._on_finished)
        self._job.failed.connect(self._on_failed)

        self.structure_box = QtWidgets.QComboBox()
        self.kind_box = QtWidgets.QComboBox()
        self.kind_box.addItem("All comparisons", None)
        for k in KINDS:
            self.kind_box.addItem(KIND_LABELS[k], k)
        self.tolerance = QtWidgets.QDoubleSpinBox()
        self.tolerance.setRange(0.0, 50.0)
        self.tolerance.setSingleStep(0.5)
        self.tolerance.setValue(DEFAULT_TOLERANCE_MM)
        self.tolerance.setSuffix(" mm")
        self.tolerance.setToolTip("Surface Dice tolerance")
        self.compute_btn = QtWidgets.QPushButton("Compute")
        self.export_btn = QtWidgets.QPushButton("Export CSV…")
        self.export_btn.setEnabled(False)
        self.progress_bar = QtWidgets.QProgressBar()
        self.progress_bar.setMaximumWidth(160)
        self.progress_bar.setVisible(False)
        self.status = QtWidgets.QLabel("")

        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([h for _, h in COLUMNS])
        self.table.setSortingEnabled(True)
        # No sort column until the user clicks a header: rows keep the documented order.
        self.table.horizontalHeader().setSortIndicator(-1, QtCore.Qt.SortOrder.AscendingOrder)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.cellDoubleClicked.connect(self._double_clicked)

        bar = QtWidgets.QHBoxLayout()
        for w in (QtWidgets.QLabel("Structure"), self.structure_box, QtWidgets.QLabel("Show"), self.kind_box,
                  QtWidgets.QLabel("Tolerance"), self.tolerance, self.compute_btn, self.export_btn,
                  self.progress_bar):
            bar.addWidget(w)
        bar.addStretch(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

        self.compute_btn.clicked.connect(self.refresh)
        self.export_btn.clicked.connect(self._export_clicked)
        self.structure_box.currentIndexChanged.connect(self._fill_table)
        self.kind_box.currentIndexChanged.connect(self._fill_table)
        self._update_structures()

    # -- API ------------------------------------------------------------------------------------
    def set_patient(self, patient: Patient | None, refresh: bool = False) -> None:
        """Show a patient (None clears); cancels a running computation. Computes when ``refresh``."""
        self._job.cancel()
        self.patient = patient
        self._rows = []
        self._set_busy(False)
        self._update_structures()
        self._fill_table()
        n = len(self.comparisons())
        self.status.setText(f"{n} comparisons; press Compute" if patient is not None else "No patient")
        if refresh and patient is not None:
            self.refresh()

    def set_hidden_sources(self, sources: Iterable[str]) -> None:
        """Leave out every pair that involves one of these sources (reader-study blinding)."""
        self._hidden = set(sources)
        self._rows = [r for r in self._rows if r["reference"] not in self._hidden and r["test"] not in self._hidden]
        self._update_structures()
        self._fill_table()

    def set_mask_provider(self, provider: MaskGetter | None) -> None:
        """``provider(name, source, frame) -> Mask`` used instead of ``patient.mask_obj`` (None resets)."""
        self._mask_provider = provider

    def set_tolerance(self, mm: float) -> None:
        """Surface Dice tolerance for the next computation."""
        self.tolerance.setValue(float(mm))

    def comparisons(self) -> list[Comparison]:
        """The pairs the next computation covers (the patient's set minus hidden sources)."""
        if self.patient is None:
            return []
        return [c for c in patient_comparisons(self.patient)
                if c.reference not in self._hidden and c.test not in self._hidden]

    def refresh(self) -> None:
        """Compute the comparison set in the background; the table fills when it is done."""
        if self.patient is None:
            return
        patient, comps, tol = self.patient, self.comparisons(), float(self.tolerance.value())
        getter = self._mask_provider

        def work(progress: Callable[[int, int], None], should_stop: Callable[[], bool]) -> list[dict]:
            # One worker thread: the metrics hold the GIL most of the time, so more threads would
            # only make the UI thread wait longer for it.
            return compare_patient(patient, comps, tol, progress=progress, should_stop=should_stop,
                                   mask_getter=getter)

        self._set_busy(True)
        self.progress_bar.setRange(0, max(1, len(comps)))
        self.progress_bar.setValue(0)
        self.status.setText(f"Computing {len(comps)} comparisons…")
        self._job.start(work)

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

    def rows(self) -> list[dict]:
        """Every computed row (all structures and kinds)."""
        return list(self._rows)

    def visible_rows(self) -> list[dict]:
        """The rows the table shows, in its current (sorted) order."""
        out = []
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            if item is not None:
                out.append(item.data(ROW_ROLE))
        return out

    def export_csv(self, path: str | Path) -> Path:
        """Write the shown rows, with every metric column, to a CSV file."""
        return write_csv(path, self.visible_rows(), METRICS_ROW_KEYS)

    # -- internals ------------------------------------------------------------------------------
    def _set_busy(self, busy: bool) -> None:
        self.progress_bar.setVisible(busy)
        self.compute_btn.setEnabled(not busy)
        self.busy_changed.emit(busy)

    def _update_structures(self) -> None:
        current = self.structure_box.currentData()
        names = sorted({c.structure for c in self.comparisons()})
        self.structure_box.blockSignals(True)
        self.structure_box.clear()
        self.structure_box.addItem("All structures", None)
        for n in names:
            self.structure_box.addItem(n, n)
        idx = self.structure_box.findData(current) if current is not None else 0
        self.structure_box.setCurrentIndex(max(0, idx))
        self.structure_box.blockSignals(False)

    def _filtered(self) -> list[dict]:
        s, k = self.structure_box.currentData(), self.kind_box.currentData()
        return [r for r in self._rows if (s is None or r["structure"] == s) and (k is None or r["comparison"] == k)]

    def _fill_table(self) -> None:
        rows = self._filtered()
        self.table.setSortingEnabled(False)  # inserting into a sorted table reorders mid-fill
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, (key, _) in enumerate(COLUMNS):
                value = row.get(key)
                item = SortItem(value, KIND_LABELS.get(value, value) if key == "comparison" else None)
                if j == 0:
                    item.setData(ROW_ROLE, row)
                self.table.setItem(i, j, item)
        self.table.setSortingEnabled(True)
        self.export_btn.setEnabled(bool(rows))

    def _on_progress(self, gen: int, done: int, total: int) -> None:
        if gen == self._job.generation:
            self.progress_bar.setRange(0, max(1, total))
            self.progress_bar.setValue(done)

    def _on_finished(self, gen: int, rows: list[dict]) -> None:
        if gen != self._job.generation:
            return
        self._rows = list(rows)
        self._set_busy(False)
        self._fill_table()
        n_pairs = len(self.comparisons())
        missing = n_pairs - len(rows)
        self.status.setText(f"{len(rows)} comparisons" + (f" ({missing} skipped: mask not loadable)" if missing else ""))
        self.computed.emit(list(rows))

    def _on_failed(self, gen: int, message: str) -> None:
        if gen != self._job.generation:
            return
        self._set_busy(False)
        self.status.setText(f"Metrics failed: {message}")

    def _double_clicked(self, r: int, _c: int) -> None:
        item = self.table.item(r, 0)
        row = item.data(ROW_ROLE) if item is not None else None
        if row is None or self.patient is None:
            return
        self.pair_activated.emit(Comparison(row["structure"], row["reference"], row["test"], row["comparison"],
                                            self.patient.reference_frame.name))

    def _export_clicked(self) -> None:
        name = f"metrics_{self.patient.id}.csv" if self.patient is not None else "metrics.csv"
        path = save_csv_dialog(self, name)
        if not path:
            return
        try:
            out = self.export_csv(path)
        except OSError as e:
            QtWidgets.QMessageBox.warning(self, "Export CSV", f"Cannot write {path}: {e}")
            return
        self.status.setText(f"Wrote {out}")
