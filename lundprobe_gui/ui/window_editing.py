"""The main window's editing part: the Edit panel's actions, tools, undo, saving, autosave and recovery.

:class:`~lundprobe_gui.ui.main_window.MainWindow` derives from :class:`EditingWindow`; the widgets and the
edit controller it works with are made by the main window.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtWidgets

from ..core.patient import Patient
from ..edit.registry import tool_class
from ..io.guard import WriteRefused, check_output_root
from ..render.scene import SceneRenderer
from ..render.slicing import AXIAL
from ..render.state import ViewerState
from .edit_controller import EditController
from .edit_panel import EditPanel
from .layer_panel import LayerPanel
from .tri_view import TriView


class EditingWindow(QtWidgets.QMainWindow):
    """The editing slots of the main window (the Edit panel, the tool keys, Ctrl+Z, Ctrl+S, recovery)."""

    # made by MainWindow.__init__ and set_patient
    patient: Patient | None
    state: ViewerState | None
    scene: SceneRenderer | None
    settings: QtCore.QSettings
    tri: TriView
    layers: LayerPanel
    edit: EditController
    edit_panel: EditPanel
    autosave_warning: QtWidgets.QLabel
    _readout_timer: QtCore.QTimer

    if TYPE_CHECKING:  # MainWindow's

        def ask(self, text: str, info: str, buttons: tuple[str, ...]) -> str: ...

        def set_mouse_mode(self, mode: str) -> None: ...

        def _display_changed(self) -> None: ...

    def _edit_layer(self, key) -> None:
        if self.edit_panel.select(key[0], key[1]):
            self._start_from_panel()

    def _start_from_panel(self) -> None:
        chosen = self.edit_panel.chosen()
        if chosen is None:
            return
        try:
            self.edit.start_editing(chosen[0], chosen[1], self.edit_panel.target.text().strip())
        except (ValueError, KeyError) as e:
            QtWidgets.QMessageBox.warning(self, "Cannot edit", str(e))
            return
        self._uncertainty_of(chosen[0])
        self.choose_tool(self.edit.tool_name)

    def _uncertainty_of(self, name: str) -> None:
        """Show the uncertainty map of the structure being edited (if it has one) instead of another's."""
        if self.state is None or self.patient is None:
            return
        unc = self.state.uncertainty
        if name in self.patient.reference_frame.uncertainty and unc.maps != {name}:
            unc.maps = {name}
            self.layers.sync()
            self._display_changed()

    def _new_from_panel(self) -> None:
        try:
            self.edit.new_structure(self.edit_panel.new_name.text().strip(), self.edit_panel.target.text().strip())
        except ValueError as e:
            QtWidgets.QMessageBox.warning(self, "Cannot create", str(e))
            return
        self.choose_tool("brush")

    def _whole_from_panel(self, what: str) -> None:
        chosen = self.edit_panel.chosen()
        if chosen is None or self.edit.active is None:
            return
        if what == "reset":
            self.edit.reset_to(*chosen)
        else:
            self.edit.copy_from(*chosen)

    def choose_tool(self, name: str) -> None:
        """Select an editing tool and put the views in edit mode."""
        if not self.edit.set_tool(name):
            self.statusBar().showMessage(f"{tool_class(name).label}: {self.edit.why_not(name)}", 5000)
            return
        self.set_mouse_mode("edit")
        for dock in self.findChildren(QtWidgets.QDockWidget):
            if dock.objectName() == "Edit":
                dock.raise_()

    def apply_tool(self) -> None:
        """Run the whole-structure tool once (or close the polygon)."""
        if self.scene is None or self.state is None:
            return
        normal = self.scene.stored_axis(self.tri.active_axis)
        self.edit.apply_tool(normal, self.state.cursor[normal])  # the controller says why when nothing changed
        self._show_polygon()

    def undo(self) -> None:
        """Undo one editing step."""
        if self.edit.undo() is None:
            self.statusBar().showMessage("Nothing to undo", 2000)

    def redo(self) -> None:
        """Redo one editing step."""
        if self.edit.redo() is None:
            self.statusBar().showMessage("Nothing to redo", 2000)

    def _brush_step(self, delta: float) -> None:
        self.edit.set_brush_radius(self.edit.brush.radius_mm + delta)
        self.statusBar().showMessage(f"Brush radius {self.edit.brush.radius_mm:.1f} mm", 2000)

    def _hover(self, axis: int, zyx) -> None:
        view = self.tri.views[axis]
        for a, v in self.tri.views.items():
            if a != axis:
                v.set_brush_cursor(None)
        tool = self.edit.session.tool if self.edit.session is not None else None
        if (
            view.mode == "edit"
            and tool is not None
            and tool.settings is not None
            and tool.shows_brush_cursor()
            and zyx is not None
        ):
            view.set_brush_cursor(tool.settings.radius_mm, zyx)
        else:
            view.set_brush_cursor(None)
        self._show_polygon(axis, zyx)

    def _show_polygon(self, axis: int | None = None, pointer=None) -> None:
        """Draw the polygon being placed, with a rubber band to the pointer, in the view it lives in."""
        poly = self.edit.polygon_in_progress() if self.tri.views[AXIAL].mode == "edit" else None
        for a, v in self.tri.views.items():
            # the polygon lives on a stored slice; a view shows it when that slice is the one on screen
            if (
                poly is None
                or self.scene is None
                or self.scene.stored_axis(a) != poly[0]
                or self.scene.slice_index(a, poly[2][0]) != v.index
            ):
                v.set_polygon([])
            else:
                v.set_polygon(poly[2], pointer if a == axis else None)

    def _edit_redraw(self, box) -> None:
        if self.scene is None:
            return
        if box is None:
            self.tri.refresh()
            return
        self.tri.refresh_box(box)
        self._readout_timer.start()

    def _edit_structure_added(self, skey) -> None:
        found = False
        it = QtWidgets.QTreeWidgetItemIterator(self.layers)
        while it.value():
            if it.value().data(0, QtCore.Qt.ItemDataRole.UserRole + 1) == skey:
                found = True
            it += 1
        if not found:
            self.layers.add_structure(skey)
        self.layers.sync()
        self.tri.refresh()

    def save_edits(self, all_keys: bool = False) -> None:
        """Save the active (or every) edited structure as a new version, in the background."""
        keys = self.edit.dirty() if all_keys else ([self.edit.active] if self.edit.active else [])
        if not keys:
            self.statusBar().showMessage("Nothing to save", 3000)
            return
        self.statusBar().showMessage(f"Saving to {self.edit.output_dir()}...")
        self.edit.save(keys)

    def choose_output_dir(self) -> None:
        """Pick the folder edits are saved to (a dataset root or a patient folder is refused at once)."""
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Output folder for edits", str(self.edit.output_dir()))
        if d and self._output_dir_ok(d):
            self.edit.out_dir = Path(d)
            self.settings.setValue("output_dir", d)

    def _output_dir_ok(self, folder: str) -> bool:
        try:
            check_output_root(folder)
        except WriteRefused as e:
            QtWidgets.QMessageBox.warning(self, "Output folder", str(e))
            return False
        return True

    def _autosave_status(self, error: str | None) -> None:
        # Stays on screen while autosave fails: the edits are then only in memory.
        self.autosave_warning.setVisible(error is not None)
        if error is None:
            self.autosave_warning.clear()
            self.statusBar().showMessage("Autosave works again", 5000)
            return
        self.autosave_warning.setText("Autosave failing: save your edits (Ctrl+S)")
        self.autosave_warning.setToolTip(
            f"Autosave could not write the recovery copy: {error}. "
            "Your edits are kept in memory; save them to keep them."
        )
        self.statusBar().showMessage(f"Autosave failed: {error}", 15000)

    def _save_failed(self, message: str, keys) -> None:
        self.statusBar().showMessage("Save failed; your edits are kept")
        answer = self.ask(
            message, "Your edits are still in memory. Save them to another folder?", ("Choose another folder", "Cancel")
        )
        if answer == "Choose another folder":
            d = QtWidgets.QFileDialog.getExistingDirectory(self, "Save edits to", str(Path.home()))
            if d and self._output_dir_ok(d):
                self.edit.out_dir = Path(d)
                self.edit.save(list(keys))

    def offer_recovery(self) -> None:
        """After a crash or kill, offer the last autosave of this patient."""
        rec = self.edit.find_recovery()
        if rec is None or self.edit.dirty():
            return
        names = ", ".join(f"{e.name} ({e.source})" for e in rec.edits)
        answer = self.ask(
            f"Unsaved edits from {rec.time} were found for {rec.patient_id}: {names}.",
            "Restore them?",
            ("Restore", "Discard"),
        )
        if answer == "Restore":
            self.edit.restore(rec)
            self.choose_tool(self.edit.tool_name)
        else:
            self.edit.discard_recovery()

    def changeEvent(self, ev: QtCore.QEvent) -> None:
        if ev.type() == QtCore.QEvent.Type.ActivationChange and not self.isActiveWindow():
            self.edit.autosave()  # focus loss
        super().changeEvent(ev)
