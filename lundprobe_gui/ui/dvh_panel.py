"""The DVH panel: cumulative DVH curves in structure colours and a statistics table.

DVHs are computed in a worker thread against the dose of the chosen frame (see
:mod:`lundprobe_gui.metrics.dvh_rows`) and cached per (structure, prescription), so switching
the shown sources only computes what is new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.patient import LUNDPROBE_PRESCRIPTION_GY, Patient, StructureRef
from ..core.regrid import resampled_note
from ..metrics.compare import CLINICAL_SOURCE, DL_SOURCE, fold_number, parse_observer_source
from ..metrics.dvh_rows import DVH_ROW_KEYS, StructureDVH, dose_frames, dvh_row, dvh_structures, patient_dvhs
from ..metrics.table import write_csv
from ..render.colormaps import structure_colour
from .job_panel import JobPanel, SortItem

logger = logging.getLogger(__name__)

Key = tuple[str, str, str]

SHOW_MODES: tuple[tuple[str, str], ...] = (
    ("clinical", "Clinical"),
    ("clinical_dl", "Clinical + DL"),
    ("observers", "Clinical + DL + observers"),
    ("all", "All sources (with folds)"),
)
"""(mode, label) of the source filter."""

STAT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("volume_cc", "Volume (cc)"),
    ("mean_gy", "Dmean (Gy)"),
    ("min_gy", "Dmin (Gy)"),
    ("max_gy", "Dmax (Gy)"),
    ("d98_gy", "D98 (Gy)"),
    ("d95_gy", "D95 (Gy)"),
    ("d50_gy", "D50 (Gy)"),
    ("d2_gy", "D2 (Gy)"),
    ("v95_percent", "V95 (%)"),
    ("v100_percent", "V100 (%)"),
)
KEY_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1
PEN_WIDTH = 2
HIGHLIGHT_WIDTH = 5


def source_shown(source: str, mode: str) -> bool:
    """Whether a source is shown under a filter mode of :data:`SHOW_MODES`."""
    if mode == "all" or source == CLINICAL_SOURCE:
        return True
    if mode == "clinical":
        return False
    if source == DL_SOURCE:
        return True
    return mode == "observers" and parse_observer_source(source) is not None


def curve_colour(key: Key) -> tuple[int, int, int]:
    """Display colour of a structure's curve: the colour its contour has in the views."""
    name, source, _ = key
    return structure_colour(name, None if source == CLINICAL_SOURCE else source)


def _pen_style(source: str) -> QtCore.Qt.PenStyle:
    # Sources share colours across structures (every nnUNet mask is the same green), so the
    # line style tells the source family apart and the colour the structure or observer.
    if source == DL_SOURCE:
        return QtCore.Qt.PenStyle.DashLine
    if fold_number(source) is not None:
        return QtCore.Qt.PenStyle.DotLine
    if parse_observer_source(source) is not None:
        return QtCore.Qt.PenStyle.DashDotLine
    return QtCore.Qt.PenStyle.SolidLine


def _swatch(colour: tuple[int, int, int]) -> QtGui.QIcon:
    pm = QtGui.QPixmap(12, 12)
    pm.fill(QtGui.QColor(*colour))
    return QtGui.QIcon(pm)


class DvhPanel(JobPanel):
    """Cumulative DVHs of the shown patient's structures, with their statistics.

    Use: :meth:`set_patient` when a patient is shown, :meth:`set_hidden_sources` in a blinded
    study session, then :meth:`refresh` (or the Compute button).

    Signals
    -------
    structure_selected(object)
        The key ``(name, source, frame)`` of a curve the user clicked (or a table row
        double-clicked).
    computed(list)
        The shown :class:`~lundprobe_gui.metrics.dvh_rows.StructureDVH` list after a computation.
    """

    TITLE = "DVH"
    EXPORT_STEM = "dvh"
    structure_selected = QtCore.Signal(object)
    computed = QtCore.Signal(list)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("dvh-panel", parent)
        self.patient: Patient | None = None
        self._cache: dict[tuple[Key, float], StructureDVH] = {}
        self._curves: dict[Key, pg.PlotCurveItem] = {}
        self._hidden: set[str] = set()
        self._selected: Key | None = None

        self.frame_box = QtWidgets.QComboBox()
        self.show_box = QtWidgets.QComboBox()
        for mode, label in SHOW_MODES:
            self.show_box.addItem(label, mode)
        self.show_box.setCurrentIndex(1)
        self.prescription = QtWidgets.QDoubleSpinBox()
        self.prescription.setRange(0.1, 200.0)
        self.prescription.setDecimals(2)
        self.prescription.setValue(LUNDPROBE_PRESCRIPTION_GY)
        self.prescription.setSuffix(" Gy")
        self.prescription.setToolTip("Prescription dose for V95 and V100")
        self._make_job_widgets()

        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setLabel("bottom", "Dose", units="Gy")
        self.plot.setLabel("left", "Volume (%)")
        self.plot.setYRange(0, 102, padding=0)
        self.rx_line = pg.InfiniteLine(
            LUNDPROBE_PRESCRIPTION_GY, angle=90, pen=pg.mkPen((120, 120, 120), style=QtCore.Qt.PenStyle.DashLine)
        )
        self.plot.addItem(self.rx_line, ignoreBounds=True)

        self.table = QtWidgets.QTableWidget(0, 2 + len(STAT_COLUMNS))
        self.table.setHorizontalHeaderLabels(["Structure", "Source"] + [h for _, h in STAT_COLUMNS])
        self.table.setSortingEnabled(True)
        # No sort column until the user clicks a header: rows keep the documented order.
        self.table.horizontalHeader().setSortIndicator(-1, QtCore.Qt.SortOrder.AscendingOrder)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemChanged.connect(self._item_changed)
        self.table.itemSelectionChanged.connect(self._row_selected)
        self.table.cellDoubleClicked.connect(self._row_double_clicked)

        bar = QtWidgets.QHBoxLayout()
        for w in (
            QtWidgets.QLabel("Frame"),
            self.frame_box,
            QtWidgets.QLabel("Show"),
            self.show_box,
            QtWidgets.QLabel("Prescription"),
            self.prescription,
            self.compute_btn,
            self.export_btn,
            self.progress_bar,
        ):
            bar.addWidget(w)
        bar.addStretch(1)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        split.addWidget(self.plot)
        split.addWidget(self.table)
        split.setSizes([300, 200])
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)

        # Once the user has computed, changing the frame, filter or prescription computes what
        # is missing by itself (debounced, so spinning the prescription does not queue runs).
        self._auto = QtCore.QTimer(self)
        self._auto.setSingleShot(True)
        self._auto.setInterval(300)
        self._auto.timeout.connect(self._auto_refresh)
        self.compute_btn.clicked.connect(self.refresh)
        self.frame_box.currentIndexChanged.connect(self._filter_changed)
        self.show_box.currentIndexChanged.connect(self._filter_changed)
        self.prescription.valueChanged.connect(self._prescription_changed)

    # -- API ------------------------------------------------------------------------------------
    def set_patient(self, patient: Patient | None, refresh: bool = False) -> None:
        """Show a patient (None clears); cancels a running computation. Computes when ``refresh``."""
        self._job.cancel()
        self._auto.stop()
        self.patient = patient
        self._cache.clear()
        self._selected = None
        self.frame_box.blockSignals(True)
        self.frame_box.clear()
        for name in dose_frames(patient) if patient is not None else []:
            dose = patient.dose(name) if patient is not None else None
            note = resampled_note(dose) if dose is not None else ""
            self.frame_box.addItem(f"{name} (dose {note})" if note else name, name)
        self.frame_box.blockSignals(False)
        self._set_busy(False)
        self._show()
        if patient is None:
            self.status.setText("No patient")
        elif self.frame_box.count() == 0:
            self.status.setText("This patient has no dose on a structure frame's grid")
        else:
            self.status.setText("Press Compute")
        if refresh and patient is not None:
            self.refresh()

    def set_hidden_sources(self, sources: Iterable[str]) -> None:
        """Never show or compute structures from these sources (reader-study blinding)."""
        self._hidden = set(sources)
        self._show()

    def set_frame(self, name: str) -> None:
        """Show the DVHs of a frame (``MRI`` or ``sCT``)."""
        idx = self.frame_box.findData(name)
        if idx < 0:
            raise KeyError(f"no frame {name!r} with a dose")
        self.frame_box.setCurrentIndex(idx)

    def set_show_mode(self, mode: str) -> None:
        """Source filter, one of the modes of :data:`SHOW_MODES`."""
        idx = self.show_box.findData(mode)
        if idx < 0:
            raise ValueError(f"unknown show mode {mode!r}")
        self.show_box.setCurrentIndex(idx)

    def set_prescription(self, gy: float) -> None:
        """Prescription for V95 and V100 (the shown table updates on the next computation)."""
        self.prescription.setValue(float(gy))

    def structures(self) -> list[StructureRef]:
        """The structures the current frame and filter show."""
        if self.patient is None or self.frame_box.currentData() is None:
            return []
        mode = self.show_box.currentData()
        return [
            r
            for r in dvh_structures(self.patient, [self.frame_box.currentData()])
            if r.source not in self._hidden and source_shown(r.source, mode)
        ]

    def refresh(self) -> None:
        """Compute the DVHs of the shown structures not yet computed, in the background."""
        if self.patient is None:
            return
        rx = float(self.prescription.value())
        todo = [r for r in self.structures() if (r.key, rx) not in self._cache]
        if not todo:
            self._show()
            return
        patient = self.patient

        def work(progress: Callable[[int, int], None], should_stop: Callable[[], bool]):
            return rx, patient_dvhs(patient, todo, rx, progress=progress, should_stop=should_stop)

        self._start_job(work, len(todo), f"Computing {len(todo)} DVHs…")

    def shown_dvhs(self) -> list[StructureDVH]:
        """The computed DVHs of the shown structures, in structure order."""
        rx = float(self.prescription.value())
        return [self._cache[(r.key, rx)] for r in self.structures() if (r.key, rx) in self._cache]

    def rows(self) -> list[dict]:
        """Table rows (keys :data:`~lundprobe_gui.metrics.dvh_rows.DVH_ROW_KEYS`) of the shown DVHs."""
        pid = self.patient.id if self.patient is not None else ""
        return [dvh_row(pid, d.key, d.dvh, d.dose) for d in self.shown_dvhs()]

    def curves(self) -> dict[Key, pg.PlotCurveItem]:
        """The plotted curve of each shown structure."""
        return dict(self._curves)

    def select(self, key: Key | None) -> None:
        """Highlight a structure's curve and table row (without emitting)."""
        self._selected = key
        for k, curve in self._curves.items():
            curve.setPen(self._pen(k))
            curve.setZValue(10 if k == key else 0)
        self.table.blockSignals(True)
        self.table.clearSelection()
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            if item is not None and item.data(KEY_ROLE) == key:
                self.table.selectRow(r)
                self.table.scrollToItem(item)
        self.table.blockSignals(False)

    def export_csv(self, path: str | Path) -> Path:
        """Write the statistics of the shown DVHs to a CSV file."""
        return write_csv(path, self.rows(), DVH_ROW_KEYS)

    # -- internals ------------------------------------------------------------------------------
    def _pen(self, key: Key) -> QtGui.QPen:
        width = HIGHLIGHT_WIDTH if key == self._selected else PEN_WIDTH
        return pg.mkPen(curve_colour(key), width=width, style=_pen_style(key[1]))

    def _show(self) -> None:
        """Redraw curves and table from the cache for the current frame and filter."""
        for curve in self._curves.values():
            self.plot.removeItem(curve)
        self._curves.clear()
        dvhs = self.shown_dvhs()
        for d in dvhs:
            if d.dvh.dose_gy.size == 0:
                continue  # an empty structure has no curve
            curve = pg.PlotCurveItem(d.dvh.dose_gy, d.dvh.volume_percent, pen=self._pen(d.key))
            curve.setClickable(True, width=8)
            curve.setToolTip(f"{d.key[0]} ({d.key[1]})")
            curve.sigClicked.connect(lambda c, _ev, key=d.key: self._curve_clicked(key))
            self.plot.addItem(curve)
            self._curves[d.key] = curve
        self._fill_table(dvhs)
        self.export_btn.setEnabled(bool(dvhs))

    def _fill_table(self, dvhs: list[StructureDVH]) -> None:
        self.table.blockSignals(True)
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(dvhs))
        for i, d in enumerate(dvhs):
            name, source, _ = d.key
            first = SortItem(name)
            first.setIcon(_swatch(curve_colour(d.key)))
            first.setData(KEY_ROLE, d.key)
            first.setFlags(first.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
            first.setCheckState(QtCore.Qt.CheckState.Checked)
            self.table.setItem(i, 0, first)
            self.table.setItem(i, 1, SortItem(source))
            stats = d.dvh.stats.to_dict()
            for j, (k, _) in enumerate(STAT_COLUMNS):
                self.table.setItem(i, 2 + j, SortItem(stats[k]))
        self.table.setSortingEnabled(True)
        self.table.blockSignals(False)

    def _filter_changed(self) -> None:
        self._show()
        if self._cache:
            self._auto.start()

    def _prescription_changed(self, gy: float) -> None:
        self.rx_line.setValue(gy)
        self._show()
        if self._cache:
            self._auto.start()

    def _auto_refresh(self) -> None:
        if self.patient is not None and not self.is_busy():
            self.refresh()
        elif self.is_busy():
            self._auto.start()  # try again when the running computation is done

    def _curve_clicked(self, key: Key) -> None:
        self.select(key)
        self.structure_selected.emit(key)

    def _item_changed(self, item: QtWidgets.QTableWidgetItem) -> None:
        key = item.data(KEY_ROLE)
        if item.column() == 0 and key in self._curves:
            self._curves[key].setVisible(item.checkState() == QtCore.Qt.CheckState.Checked)

    def _row_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            item = self.table.item(rows[0].row(), 0)
            key = item.data(KEY_ROLE) if item is not None else None
            self._selected = key
            for k, curve in self._curves.items():
                curve.setPen(self._pen(k))
                curve.setZValue(10 if k == key else 0)

    def _row_double_clicked(self, r: int, _c: int) -> None:
        item = self.table.item(r, 0)
        if item is not None and item.data(KEY_ROLE) is not None:
            self.structure_selected.emit(tuple(item.data(KEY_ROLE)))

    def _on_finished(self, gen: int, result) -> None:
        if gen != self._job.generation:
            return
        rx, (dvhs, warnings) = result
        for d in dvhs:
            self._cache[(d.key, rx)] = d
        self._set_busy(False)
        self._show()
        msg = f"{len(self._curves)} DVH curves"
        if warnings:
            msg += f"; {len(warnings)} left out: " + "; ".join(warnings[:3])
        self.status.setText(msg)
        self.computed.emit(self.shown_dvhs())
