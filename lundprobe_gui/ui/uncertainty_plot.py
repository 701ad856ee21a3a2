"""The uncertainty-versus-edits plot: edited voxels per DL-uncertainty bin, step 1 beside step 2.

For a chosen structure and observer (or all observers pooled) it shows, per uncertainty bin of
0.05, one bar per step: the fraction of the bin's voxels that were edited, or the number of
edited voxels. A reader sees at a glance whether step 2, with the uncertainty map shown, edited
less in the low-uncertainty bins (see :mod:`lundprobe_gui.metrics.edit_rows`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from ..core.patient import Patient
from ..metrics.edit_rows import EDIT_ROW_KEYS, POOLED, patient_edit_rows, pool_edit_rows
from ..metrics.table import write_csv
from .job_panel import JobPanel

logger = logging.getLogger(__name__)

MEASURES: tuple[tuple[str, str, str], ...] = (
    ("fraction_edited", "Fraction of voxels edited", "Fraction edited"),
    ("edited_voxels", "Edited voxels", "Edited voxels"),
    ("added_voxels", "Added voxels", "Added voxels"),
    ("removed_voxels", "Removed voxels", "Removed voxels"),
)
"""(row key, combo label, axis label) of the plotted measure."""

STEP_COLOURS = {1: (90, 120, 200), 2: (240, 140, 30)}
"""Bar colours: step 1 blue, step 2 orange (any further step gets a grey)."""
LOW_UNCERTAINTY = 0.15
"""Upper edge of the bins summarised as "low uncertainty" in the status line."""


class UncertaintyEditsPlot(JobPanel):
    """Grouped bar chart of edits per uncertainty bin, the steps side by side.

    Use: :meth:`set_patient` (computes the patient's histograms in the background) or
    :meth:`set_rows` with rows computed elsewhere (e.g. a whole dataset from
    ``lundprobe-gui uncertainty-edits --json``), then pick a structure, observer and measure.

    Signals
    -------
    computed(list)
        The per-observer rows after a computation.
    """

    TITLE = "Uncertainty-versus-edits"
    EXPORT_STEM = "uncertainty_edits"
    computed = QtCore.Signal(list)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("uncertainty-edits", parent)
        self.patient: Patient | None = None
        self._rows: list[dict] = []
        self._bars: dict[int, pg.BarGraphItem] = {}
        self._values: dict[int, list[float | None]] = {}

        self.structure_box = QtWidgets.QComboBox()
        self.observer_box = QtWidgets.QComboBox()
        self.measure_box = QtWidgets.QComboBox()
        for key, label, _ in MEASURES:
            self.measure_box.addItem(label, key)
        self._make_job_widgets()
        self.status.setWordWrap(True)

        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.showGrid(y=True, alpha=0.3)
        self.plot.setLabel("bottom", "DL uncertainty")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # fractions read as 0.08, not "80 (x0.001)"
        self.legend = self.plot.addLegend(offset=(-10, 10))

        bar = QtWidgets.QHBoxLayout()
        for w in (
            QtWidgets.QLabel("Structure"),
            self.structure_box,
            QtWidgets.QLabel("Observer"),
            self.observer_box,
            QtWidgets.QLabel("Show"),
            self.measure_box,
            self.compute_btn,
            self.export_btn,
            self.progress_bar,
        ):
            bar.addWidget(w)
        bar.addStretch(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.status)

        self.compute_btn.clicked.connect(self.refresh)
        for box in (self.structure_box, self.observer_box, self.measure_box):
            box.currentIndexChanged.connect(self._redraw)
        self._fill_choices()

    # -- API ------------------------------------------------------------------------------------
    def set_patient(self, patient: Patient | None, refresh: bool = False) -> None:
        """Show a patient (None clears); computes when ``refresh``."""
        self._job.cancel()
        self.patient = patient
        self._set_busy(False)
        self.set_rows([])
        self.status.setText("Press Compute" if patient is not None else "No patient")
        if refresh and patient is not None:
            self.refresh()

    def set_rows(self, rows: Sequence[dict]) -> None:
        """Show precomputed per-observer rows (keys :data:`~lundprobe_gui.metrics.edit_rows.EDIT_ROW_KEYS`)."""
        self._rows = list(rows)
        self._fill_choices()
        self._redraw()

    def refresh(self) -> None:
        """Compute the patient's histograms in the background."""
        if self.patient is None:
            return
        patient = self.patient

        def work(progress: Callable[[int, int], None], should_stop: Callable[[], bool]):
            return patient_edit_rows(patient, progress=progress, should_stop=should_stop)

        self._start_job(work, None, "Binning the observers' edits by uncertainty…")

    def set_structure(self, name: str) -> None:
        """Plot this structure."""
        idx = self.structure_box.findData(name)
        if idx < 0:
            raise KeyError(f"no histogram rows for structure {name!r}")
        self.structure_box.setCurrentIndex(idx)

    def set_observer(self, observer: str | None) -> None:
        """Plot one observer, or all observers pooled (None)."""
        idx = self.observer_box.findData(observer if observer is not None else POOLED)
        if idx < 0:
            raise KeyError(f"no histogram rows for observer {observer!r}")
        self.observer_box.setCurrentIndex(idx)

    def set_measure(self, key: str) -> None:
        """Plot ``fraction_edited``, ``edited_voxels``, ``added_voxels`` or ``removed_voxels``."""
        idx = self.measure_box.findData(key)
        if idx < 0:
            raise ValueError(f"unknown measure {key!r}")
        self.measure_box.setCurrentIndex(idx)

    def rows(self) -> list[dict]:
        """Every per-observer row."""
        return list(self._rows)

    def shown_rows(self) -> list[dict]:
        """The rows behind the bars: the structure's, for the observer or pooled over observers."""
        s, obs = self.structure_box.currentData(), self.observer_box.currentData()
        rows = [r for r in self._rows if r["structure"] == s]
        if obs == POOLED:
            return pool_edit_rows(rows, over_patients=True, over_observers=True)
        return pool_edit_rows([r for r in rows if r["observer"] == obs], over_patients=True, over_observers=False)

    def bar_values(self) -> dict[int, list[float | None]]:
        """The plotted value of every bin, per step (None for an empty bin's fraction)."""
        return {k: list(v) for k, v in self._values.items()}

    def bin_edges(self) -> list[tuple[float, float]]:
        """(low, high) of the plotted bins."""
        return sorted({(r["bin_low"], r["bin_high"]) for r in self.shown_rows()})

    def export_csv(self, path: str | Path) -> Path:
        """Write the rows behind the bars (both steps) to a CSV file."""
        return write_csv(path, self.shown_rows(), EDIT_ROW_KEYS)

    # -- internals ------------------------------------------------------------------------------
    def _fill_choices(self) -> None:
        cur_s, cur_o = self.structure_box.currentData(), self.observer_box.currentData()
        for box in (self.structure_box, self.observer_box):
            box.blockSignals(True)
            box.clear()
        for s in sorted({r["structure"] for r in self._rows}):
            self.structure_box.addItem(s, s)
        self.observer_box.addItem("All observers (pooled)", POOLED)
        for o in sorted({r["observer"] for r in self._rows}):
            self.observer_box.addItem(o, o)
        for box, cur in ((self.structure_box, cur_s), (self.observer_box, cur_o)):
            idx = box.findData(cur) if cur is not None else -1
            box.setCurrentIndex(idx if idx >= 0 else 0)
            box.blockSignals(False)
        self.export_btn.setEnabled(bool(self._rows))

    def _redraw(self) -> None:
        for item in self._bars.values():
            self.plot.removeItem(item)
        self._bars.clear()
        self._values.clear()
        self.legend.clear()
        measure = self.measure_box.currentData()
        rows = self.shown_rows() if self._rows else []
        if not rows:
            self.plot.getAxis("bottom").setTicks(None)
            return
        edges = sorted({(r["bin_low"], r["bin_high"]) for r in rows})
        index = {e: i for i, e in enumerate(edges)}
        steps = sorted({int(r["step"]) for r in rows})
        width = 0.8 / len(steps)
        for n, step in enumerate(steps):
            values: list[float | None] = [None] * len(edges)
            for r in rows:
                if int(r["step"]) == step:
                    values[index[(r["bin_low"], r["bin_high"])]] = r[measure]
            self._values[step] = values
            x = np.arange(len(edges)) - 0.4 + width * (n + 0.5)
            heights = np.array([0.0 if v is None else float(v) for v in values])
            colour = STEP_COLOURS.get(step, (150, 150, 150))
            item = pg.BarGraphItem(
                x=x, height=heights, width=width * 0.9, brush=pg.mkBrush(*colour), pen=pg.mkPen(colour)
            )
            self.plot.addItem(item)
            self.legend.addItem(item, f"Step {step}")
            self._bars[step] = item
        ticks = [(i, f"{lo:.2f}\N{EN DASH}{hi:.2f}") for i, (lo, hi) in enumerate(edges)]
        self.plot.getAxis("bottom").setTicks([ticks[::2], ticks[1::2]])
        self.plot.setLabel("left", next(a for k, _, a in MEASURES if k == measure))
        self.plot.setXRange(-0.6, len(edges) - 0.4, padding=0)
        self.status.setText(self._summary(rows))

    def _summary(self, rows: list[dict]) -> str:
        """Edited voxels of step 2 against step 1 in the low-uncertainty bins, in words."""
        low = {1: [0, 0], 2: [0, 0]}
        for r in rows:
            k = int(r["step"])
            if k in low and r["bin_high"] <= LOW_UNCERTAINTY + 1e-9:
                low[k][0] += r["edited_voxels"]
                low[k][1] += r["total_voxels"]
        (e1, t1), (e2, t2) = low[1], low[2]
        if not t1 or not t2:
            return "Step 1 and step 2 are both needed for a comparison."
        f1, f2 = e1 / t1, e2 / t2
        if f1 == 0:
            return f"Below {LOW_UNCERTAINTY} uncertainty: no edits in step 1, {100 * f2:.2f} % of voxels in step 2."
        change = 100.0 * (f2 - f1) / f1
        word = "fewer" if change < 0 else "more"
        return (
            f"Below {LOW_UNCERTAINTY} uncertainty: {100 * f1:.2f} % of voxels edited in step 1, "
            f"{100 * f2:.2f} % in step 2 ({abs(change):.0f} % {word} edits in step 2)."
        )

    def _on_finished(self, gen: int, result) -> None:
        if gen != self._job.generation:
            return
        rows, warnings = result
        self._set_busy(False)
        self.set_rows(rows)
        if not rows:
            self.status.setText(
                "No observer edits of a DL structure with an uncertainty map"
                + (f" ({'; '.join(warnings[:2])})" if warnings else "")
            )
        self.computed.emit(list(rows))
