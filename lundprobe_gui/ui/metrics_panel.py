"""The metrics panel: the patient's comparison set in a sortable table, computed off the UI thread."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from ..core.patient import Patient
from ..metrics.compare import (
    DEFAULT_TOLERANCE_MM,
    KIND_LABELS,
    KINDS,
    METRICS_ROW_KEYS,
    Comparison,
    MaskGetter,
    compare_patient,
    patient_comparisons,
)
from ..metrics.table import write_csv
from .job_panel import JobPanel, SortItem

logger = logging.getLogger(__name__)

COLUMNS: tuple[tuple[str, str], ...] = (
    ("structure", "Structure"),
    ("comparison", "Comparison"),
    ("reference", "Reference"),
    ("test", "Test"),
    ("dice", "Dice"),
    ("jaccard", "Jaccard"),
    ("hd_mm", "HD (mm)"),
    ("hd95_mm", "HD95 (mm)"),
    ("msd_mm", "MSD (mm)"),
    ("surface_dice", "Surface Dice"),
    ("apl_mm", "APL (mm)"),
    ("fnpl_mm", "FNPL (mm)"),
    ("volume_reference_cc", "Ref. vol. (cc)"),
    ("volume_test_cc", "Test vol. (cc)"),
    ("centroid_shift_mm", "Centroid shift (mm)"),
)
"""(row key, header) of the table columns."""

ROW_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1


class MetricsPanel(JobPanel):
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

    TITLE = "Metrics"
    EXPORT_STEM = "metrics"
    computed = QtCore.Signal(list)
    pair_activated = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("metrics-panel", parent)
        self.patient: Patient | None = None
        self._rows: list[dict] = []
        self._hidden: set[str] = set()
        self._mask_provider: MaskGetter | None = None

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
        self._make_job_widgets()

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
        for w in (
            QtWidgets.QLabel("Structure"),
            self.structure_box,
            QtWidgets.QLabel("Show"),
            self.kind_box,
            QtWidgets.QLabel("Tolerance"),
            self.tolerance,
            self.compute_btn,
            self.export_btn,
            self.progress_bar,
        ):
            bar.addWidget(w)
        bar.addStretch(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

        self.compute_btn.clicked.connect(self.refresh)
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
        return [
            c
            for c in patient_comparisons(self.patient)
            if c.reference not in self._hidden and c.test not in self._hidden
        ]

    def refresh(self) -> None:
        """Compute the comparison set in the background; the table fills when it is done."""
        if self.patient is None:
            return
        patient, comps, tol = self.patient, self.comparisons(), float(self.tolerance.value())
        getter = self._mask_provider

        def work(progress: Callable[[int, int], None], should_stop: Callable[[], bool]) -> list[dict]:
            # One worker thread: the metrics hold the GIL most of the time, so more threads would
            # only make the UI thread wait longer for it.
            return compare_patient(patient, comps, tol, progress=progress, should_stop=should_stop, mask_getter=getter)

        self._start_job(work, len(comps), f"Computing {len(comps)} comparisons…")

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
                label = KIND_LABELS.get(value, value) if key == "comparison" and isinstance(value, str) else None
                item = SortItem(value, label)
                if j == 0:
                    item.setData(ROW_ROLE, row)
                self.table.setItem(i, j, item)
        self.table.setSortingEnabled(True)
        self.export_btn.setEnabled(bool(rows))

    def _on_finished(self, gen: int, rows: list[dict]) -> None:
        if gen != self._job.generation:
            return
        self._rows = list(rows)
        self._set_busy(False)
        self._fill_table()
        n_pairs = len(self.comparisons())
        missing = n_pairs - len(rows)
        self.status.setText(
            f"{len(rows)} comparisons" + (f" ({missing} skipped: mask not loadable)" if missing else "")
        )
        self.computed.emit(list(rows))

    def _double_clicked(self, r: int, _c: int) -> None:
        item = self.table.item(r, 0)
        row = item.data(ROW_ROLE) if item is not None else None
        if row is None or self.patient is None:
            return
        self.pair_activated.emit(
            Comparison(
                row["structure"], row["reference"], row["test"], row["comparison"], self.patient.reference_frame.name
            )
        )
