"""Metrics, DVH and uncertainty versus edits in one tabbed window beside the views.

Docked under the views, three analysis panels squashed them to a strip and had to be closed one by
one. Here they are tabs of one dock that opens floating, as a window of its own (the views keep
their size); it can still be docked by dragging it onto the main window.
"""

from __future__ import annotations

import logging

from PySide6 import QtCore, QtWidgets

from .dvh_panel import DvhPanel
from .metrics_panel import MetricsPanel
from .uncertainty_plot import UncertaintyEditsPlot

logger = logging.getLogger(__name__)

TITLE = "Analysis"
METRICS, DVH, UNCERTAINTY_EDITS = range(3)


class AnalysisTabs(QtWidgets.QTabWidget):
    """The three analysis panels; a tab opened for the first time on a patient computes it."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.metrics_panel = MetricsPanel()
        self.dvh_panel = DvhPanel()
        self.unc_plot = UncertaintyEditsPlot()
        for w, t in ((self.metrics_panel, "Metrics"), (self.dvh_panel, "DVH"), (self.unc_plot, "Uncertainty vs edits")):
            self.addTab(w, t)
        self.dock: QtWidgets.QDockWidget | None = None
        self.patient = None
        self.currentChanged.connect(self._tab_shown)

    def set_patient(self, patient, hidden_sources: set[str]) -> None:
        """A new patient; ``hidden_sources`` (a study's blinding) also disables the uncertainty-vs-edits tab."""
        self.patient = patient
        shown = self.dock is not None and self.dock.isVisible()
        for panel in (self.metrics_panel, self.dvh_panel):
            panel.set_hidden_sources(hidden_sources)
            panel.set_patient(patient, refresh=shown and self.currentWidget() is panel)
        self.unc_plot.set_patient(patient, refresh=False)
        self.setTabEnabled(UNCERTAINTY_EDITS, not hidden_sources)  # it shows other observers' edits

    def show_tab(self, window: QtWidgets.QMainWindow, i: int) -> None:
        """Open the window on tab ``i`` (created on first use) and compute that tab."""
        if not self.isTabEnabled(i):
            return
        if self.dock is None:
            self.dock = QtWidgets.QDockWidget(TITLE, window)
            self.dock.setObjectName(TITLE)
            self.dock.setWidget(self)
            window.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
            self.dock.setFloating(True)
            self.dock.setGeometry(_placement(window))
        self.blockSignals(True)
        self.setCurrentIndex(i)
        self.blockSignals(False)
        self.dock.show()
        self.dock.raise_()
        panel = self.widget(i)
        if self.patient is not None and not panel.is_busy():
            panel.refresh()

    def _tab_shown(self, i: int) -> None:
        # switching back to a tab does not compute it again
        panel = self.widget(i)
        if (
            self.patient is not None
            and panel is not None
            and panel.computed_for is not self.patient
            and not panel.is_busy()
        ):
            panel.refresh()

    def cancel(self) -> None:
        """Stop running computations (the window is closing)."""
        for panel in (self.metrics_panel, self.dvh_panel):
            panel.cancel()


def _placement(window: QtWidgets.QWidget) -> QtCore.QRect:
    """Beside the main window when the screen has room there, else over its bottom-right corner."""
    frame = window.frameGeometry()
    screen = window.screen().availableGeometry() if window.screen() is not None else frame
    w, h = min(1000, int(frame.width() * 0.6)), min(560, int(frame.height() * 0.55))
    if screen.right() - frame.right() >= 500:
        return QtCore.QRect(frame.right() + 1, frame.top(), min(w, screen.right() - frame.right()), h)
    if screen.bottom() - frame.bottom() >= 300:
        return QtCore.QRect(frame.left(), frame.bottom() + 1, w, min(h, screen.bottom() - frame.bottom()))
    return QtCore.QRect(frame.right() - w - 20, frame.bottom() - h - 40, w, h)
