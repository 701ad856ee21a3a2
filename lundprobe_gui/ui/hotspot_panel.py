"""The hotspot navigator dock: high-uncertainty regions of the edited structure, N / Shift+N, review meter.

The list is computed off the GUI thread (:func:`~lundprobe_gui.edit.hotspots.find_hotspots`) for
the structure being edited, from its DL mask and uncertainty map; the window centres the views on
the region the navigator moves to.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from PySide6 import QtCore, QtWidgets

from ..edit.guidance import Guidance
from ..edit.hotspots import DEFAULT_THRESHOLD, Hotspot, HotspotNavigator, find_hotspots

logger = logging.getLogger(__name__)

COLUMNS = ("#", "Size (mm³)", "Mean unc.", "Max unc.", "Reviewed")


class HotspotPanel(QtWidgets.QWidget):
    """Lists the hotspots and drives a :class:`HotspotNavigator`.

    Signals
    -------
    go_to(object)
        A :class:`Hotspot` to centre the views on.
    accept_requested(float)
        Accept the low-uncertainty boundary (the threshold).
    """

    go_to = QtCore.Signal(object)
    accept_requested = QtCore.Signal(float)
    _found = QtCore.Signal(int, str, object)  # request number, structure, hotspots (from the worker)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.nav = HotspotNavigator()
        self._guide: Guidance | None = None
        self._spacing = (1.0, 1.0, 1.0)
        self._request = 0
        self.allowed = True
        lay = QtWidgets.QVBoxLayout(self)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Uncertainty ≥"))
        self.threshold = QtWidgets.QDoubleSpinBox()
        self.threshold.setRange(0.01, 0.5)
        self.threshold.setSingleStep(0.05)
        self.threshold.setDecimals(2)
        self.threshold.setValue(DEFAULT_THRESHOLD)
        row.addWidget(self.threshold)
        row.addStretch(1)
        lay.addLayout(row)
        self.status = QtWidgets.QLabel("Edit a structure that has an uncertainty map")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.cellDoubleClicked.connect(lambda r, _c: self._show(self.nav.select(r)))
        lay.addWidget(self.table, 1)
        buttons = QtWidgets.QGridLayout()
        self.prev_btn = QtWidgets.QPushButton("Previous (Shift+N)")
        self.next_btn = QtWidgets.QPushButton("Next (N)")
        self.review_btn = QtWidgets.QPushButton("Mark reviewed")
        self.accept_btn = QtWidgets.QPushButton("Accept low-uncertainty boundary")
        self.accept_btn.setToolTip(
            "Take the DL boundary where the uncertainty is below the threshold (one undo step) and count it as reviewed"
        )
        buttons.addWidget(self.prev_btn, 0, 0)
        buttons.addWidget(self.next_btn, 0, 1)
        buttons.addWidget(self.review_btn, 1, 0)
        buttons.addWidget(self.accept_btn, 1, 1)
        lay.addLayout(buttons)
        self.meter = QtWidgets.QLabel("")
        self.meter.setStyleSheet("font-weight: bold;")
        lay.addWidget(self.meter)
        self.prev_btn.clicked.connect(lambda: self.step(-1))
        self.next_btn.clicked.connect(lambda: self.step(+1))
        self.review_btn.clicked.connect(self.toggle_reviewed)
        self.accept_btn.clicked.connect(lambda: self.accept_requested.emit(self.threshold.value()))
        self.threshold.valueChanged.connect(lambda _v: self.recompute())
        self._found.connect(self._on_found)
        self._update_buttons()

    # -- input ---------------------------------------------------------------------------
    def set_structure(
        self, name: str | None, guide: Guidance | None, spacing_zyx: tuple[float, float, float], allowed: bool = True
    ) -> None:
        """The structure being edited (None: nothing), its guidance, and whether the study permits the navigator."""
        self.allowed = allowed
        same = name == self.nav.structure and guide is not None and guide is self._guide
        self._guide, self._spacing = guide, spacing_zyx
        if not same:
            self.nav.structure = name or ""
            self.recompute()

    def recompute(self) -> None:
        """Find the hotspots again (structure or threshold changed), in a worker thread."""
        self._request += 1
        guide, name = self._guide, self.nav.structure
        self.nav.set_hotspots(name, [], self.threshold.value())
        self._fill()
        if not self.allowed:
            self.status.setText("The hotspot navigator is not available in this session")
            return
        if guide is None or guide.uncertainty is None or guide.reference is None:
            self.status.setText("Edit a structure that has an uncertainty map")
            return
        self.status.setText(f"Finding the regions of {name} where uncertainty ≥ {self.threshold.value():.2f}...")
        request, threshold, spacing = self._request, self.threshold.value(), self._spacing
        unc, reference = guide.uncertainty, guide.reference

        def work() -> None:
            try:
                found = find_hotspots(unc, reference, spacing, threshold)
            except Exception:  # shown as an empty list, logged
                logger.exception("finding hotspots failed")
                found = []
            self._found.emit(request, name, found)

        threading.Thread(target=work, name="hotspots", daemon=True).start()

    def _on_found(self, request: int, name: str, found: list[Hotspot]) -> None:
        if request != self._request:
            return  # a newer structure or threshold was asked for meanwhile
        self.nav.set_hotspots(name, found, self.threshold.value())
        self.status.setText(
            f"{len(found)} regions of {name} with uncertainty ≥ {self.threshold.value():.2f} near the DL boundary"
        )
        self._fill()

    # -- navigation ------------------------------------------------------------------------
    def step(self, delta: int) -> Hotspot | None:
        """Go to the next (+1) or previous (-1) region; returns it (None when there is none)."""
        spot = self.nav.go(delta) if self.allowed else None
        if spot is not None:
            self._show(spot)
        return spot

    def _show(self, spot: Hotspot) -> None:
        self.table.selectRow(self.nav.current or 0)
        self.go_to.emit(spot)
        self._update_buttons()

    def toggle_reviewed(self) -> None:
        """Mark the current region reviewed (or not reviewed again)."""
        i = self.nav.current
        if i is None:
            return
        self.nav.mark_reviewed(i, i not in self.nav.reviewed)
        self._fill()

    def accepted(self, share: float, added: int, removed: int) -> None:
        """The window accepted the low-uncertainty boundary."""
        self.nav.accepted(share, added, removed)
        self._fill()

    # -- display -----------------------------------------------------------------------------
    def _fill(self) -> None:
        self.table.setRowCount(len(self.nav.hotspots))
        for i, h in enumerate(self.nav.hotspots):
            cells = (
                str(h.number),
                f"{h.volume_mm3:.0f}",
                f"{h.mean_uncertainty:.3f}",
                f"{h.max_uncertainty:.3f}",
                "yes" if i in self.nav.reviewed else "",
            )
            for j, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                if j < 4:
                    item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()
        if self.nav.current is not None:
            self.table.selectRow(self.nav.current)
        self.meter.setText(self.nav.meter() if self.nav.hotspots or self.nav.accepted_share is not None else "")
        self._update_buttons()

    def _update_buttons(self) -> None:
        has = bool(self.nav.hotspots) and self.allowed
        for b in (self.prev_btn, self.next_btn):
            b.setEnabled(has)
        self.review_btn.setEnabled(has and self.nav.current is not None)
        ok = self.allowed and self._guide is not None and self._guide.uncertainty is not None
        self.accept_btn.setEnabled(ok)


def install_hotspots(window: Any, beside: QtWidgets.QDockWidget) -> HotspotPanel:
    """Add the Hotspots dock (tabbed with ``beside``), its Edit-menu entries and N / Shift+N to the main window."""
    panel = HotspotPanel()
    window.hotspots = panel
    window.hotspots_dock = dock = window.add_dock("Hotspots", panel, QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
    window.tabifyDockWidget(beside, dock)
    edit = window.edit
    status = window.statusBar()

    def update() -> None:
        name = edit.active[0] if edit.active is not None else None
        allowed = edit.hotspots_allowed() and (window.state is None or window.state.uncertainty_allowed)
        spacing = window.patient.geometry.spacing_zyx if window.patient is not None else (1.0, 1.0, 1.0)
        panel.set_structure(name, edit.active_guidance(), spacing, allowed)

    def step(delta: int) -> None:
        if panel.step(delta) is None:
            status.showMessage("No uncertain regions: edit a structure with an uncertainty map", 3000)

    def go_to(spot: Hotspot) -> None:
        window.move_cursor(spot.centre)
        for v in window.tri.views.values():
            v.centre_on(spot.centre)
        dock.raise_()
        status.showMessage(
            f"Region {spot.number} of {len(panel.nav)}: {spot.volume_mm3:.0f} mm³, "
            f"mean uncertainty {spot.mean_uncertainty:.2f}; {panel.nav.meter()}",
            6000,
        )

    def accept(threshold: float) -> None:
        got = edit.accept_low_uncertainty(threshold)
        if got is None:
            status.showMessage("Edit a structure with an uncertainty map first", 3000)
            return
        share, added, removed = got
        panel.accepted(share, added, removed)
        status.showMessage(
            f"Accepted the DL boundary where uncertainty < {threshold:.2f} ({100 * share:.0f} % of it): "
            f"{added} voxels added, {removed} removed",
            8000,
        )

    edit.changed.connect(update)
    panel.go_to.connect(go_to)
    panel.accept_requested.connect(accept)
    panel.nav.used.connect(edit.tool_used.emit)
    window.edit_menu.addSeparator()
    window.edit_menu.addAction(window.make_action("hotspot_next", "Next uncertain region", lambda: step(+1)))
    window.edit_menu.addAction(window.make_action("hotspot_prev", "Previous uncertain region", lambda: step(-1)))
    return panel
