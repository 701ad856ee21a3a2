"""Keyboard shortcuts (ITK-SNAP conventions where it has one), listed in Help > Shortcuts."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6 import QtCore, QtWidgets

from ..edit.registry import tool_classes


@dataclass(frozen=True)
class Shortcut:
    """One key binding."""

    action: str
    keys: tuple[str, ...]
    description: str


SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("next_slice", ("Up", "Right", "PgUp"), "Next slice in the view under the mouse (PgUp: 5 slices)"),
    Shortcut("prev_slice", ("Down", "Left", "PgDown"), "Previous slice (PgDown: 5 slices)"),
    Shortcut("maximise", ("M",), "Maximise or restore the view under the mouse (or double-click it)"),
    Shortcut("reset_zoom", ("R",), "Reset zoom and pan in all views"),
    Shortcut("toggle_base", ("B",), "Switch the base image between MRI and sCT"),
    Shortcut("cycle_fusion", ("C",), "Cycle MRI/sCT fusion: none, checkerboard, blend"),
    Shortcut("toggle_structures", ("S",), "Show or hide all structures"),
    Shortcut("toggle_dose", ("D",), "Show or hide the dose wash"),
    Shortcut("toggle_isodose", ("I",), "Show or hide the isodose lines"),
    Shortcut("toggle_uncertainty", ("U",), "Show or hide the uncertainty maps"),
    Shortcut("toggle_fiducials", ("F",), "Show or hide the fiducial markers"),
    Shortcut("toggle_legend", ("L",), "Show or hide the structure legend"),
    Shortcut("mode_window", ("W",), "Mouse mode: window/level (drag: left-right width, up-down level)"),
    Shortcut("mode_navigate", ("Esc",), "Mouse mode: navigate (click or drag sets the cursor)"),
    *(Shortcut(f"tool_{c.name}", (c.shortcut,), c.description) for c in tool_classes() if c.shortcut),
    Shortcut("hotspot_next", ("N",), "Next high-uncertainty region: crosshair there, views centred on it"),
    Shortcut("hotspot_prev", ("Shift+N",), "Previous high-uncertainty region"),
    Shortcut("brush_bigger", ("+", "="), "Bigger brush (0.5 mm)"),
    Shortcut("brush_smaller", ("-",), "Smaller brush (0.5 mm)"),
    Shortcut("apply_tool", ("Return", "Enter"), "Apply the tool / close the polygon"),
    Shortcut("undo", ("Ctrl+Z",), "Undo one drag or tool application"),
    Shortcut("redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo"),
    Shortcut("compare_start", ("X",), "Compare the edited structure with its start: added green, removed magenta"),
    Shortcut("save_edits", ("Ctrl+S",), "Save the edited structure as a new version"),
    Shortcut("save_all_edits", ("Ctrl+Shift+S",), "Save every edited structure"),
    Shortcut("open_patient", ("Ctrl+O",), "Open a patient folder"),
    Shortcut("open_dataset", ("Ctrl+Shift+O",), "Open a dataset root in the patient browser"),
    Shortcut("save_view_png", ("Ctrl+P",), "Save the view under the mouse as PNG"),
    Shortcut("save_window_png", ("Ctrl+Shift+P",), "Save the whole window as PNG"),
    Shortcut("shortcuts", ("F1",), "This list"),
    Shortcut("quit", ("Ctrl+Q",), "Quit"),
)
"""Mouse: wheel = slice, Ctrl+wheel or right-drag = zoom, middle-drag = pan."""

MOUSE_HELP = (
    ("Left click / drag", "Set the cursor in all views (navigate mode); window/level or edit in other modes"),
    ("Wheel", "Next / previous slice"),
    ("Ctrl+wheel, right-drag", "Zoom"),
    ("Middle-drag", "Pan"),
    ("Double-click", "Maximise / restore a view"),
)


class ShortcutsDialog(QtWidgets.QDialog):
    """Help > Shortcuts: every key and mouse binding."""

    def __init__(self, extra: list[Shortcut] | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard and mouse shortcuts")
        rows = [(", ".join(s.keys), s.description) for s in (*SHORTCUTS, *(extra or []))] + list(MOUSE_HELP)
        table = QtWidgets.QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["Keys", "Action"])
        for i, (k, d) in enumerate(rows):
            table.setItem(i, 0, QtWidgets.QTableWidgetItem(k))
            table.setItem(i, 1, QtWidgets.QTableWidgetItem(d))
        table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setWordWrap(True)
        table.setTextElideMode(QtCore.Qt.TextElideMode.ElideNone)
        table.verticalHeader().setVisible(False)
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        table.resizeRowsToContents()
        self.table = table
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(table)
        btn = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        btn.rejected.connect(self.reject)
        lay.addWidget(btn)
        # wide enough for every line whole (a smaller screen wraps the descriptions instead)
        width = table.horizontalHeader().length() + table.verticalScrollBar().sizeHint().width() + 40
        screen = self.screen().availableGeometry() if self.screen() is not None else QtCore.QRect(0, 0, 1600, 1000)
        self.resize(min(width, int(screen.width() * 0.9)), min(640, int(screen.height() * 0.85)))

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        self.table.resizeRowsToContents()  # wrapped descriptions get the height they need
