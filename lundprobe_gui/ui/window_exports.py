"""The main window's export and help part: PNGs of a view or the window, DICOM export, shortcuts, about.

:class:`~lundprobe_gui.ui.main_window.MainWindow` derives from :class:`ExportingWindow`.
"""

from __future__ import annotations

from PySide6 import QtGui, QtWidgets

from ..core.patient import Patient
from .edit_controller import EditController
from .png_file import save_png
from .shortcuts import ShortcutsDialog
from .tri_view import TriView


class ExportingWindow(QtWidgets.QMainWindow):
    """File > Save view / window as PNG, File > Export, Help."""

    # made by MainWindow.__init__ and set_patient
    patient: Patient | None
    tri: TriView
    edit: EditController

    def save_view_png(self, path: str | None = None) -> str | None:
        """Save the active view as PNG."""
        if not path:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save view", "view.png", "PNG (*.png)")
        if path:
            return self._save_png(self.tri.views[self.tri.active_axis].grab(), path)
        return None

    def save_window_png(self, path: str | None = None) -> str | None:
        """Save the whole window as PNG."""
        if not path:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save window", "window.png", "PNG (*.png)")
        if path:
            return self._save_png(self.grab(), path)
        return None

    def _save_png(self, pixmap: QtGui.QPixmap, path: str) -> str | None:
        try:
            save_png(pixmap, path)
        except OSError as e:  # WriteRefused too: a file in the dataset
            QtWidgets.QMessageBox.warning(self, "Save PNG", str(e))
            return None
        return path

    def export_dicom(self) -> QtWidgets.QDialog | None:
        """File > Export: the saved structures as a new RTSTRUCT or DICOM-SEG (unsaved edits must be saved first)."""
        from .export_dialog import ExportDialog

        if self.patient is None:
            return None
        if self.edit.dirty():
            QtWidgets.QMessageBox.information(
                self,
                "Export",
                "Save the edited structures first (Edit > Save edited structure): the export writes what is saved.",
            )
            return None
        dlg = ExportDialog(self.patient, self.edit.output_dir() / self.patient.id / "dicom_export", self)
        dlg.show()
        return dlg

    def show_shortcuts(self) -> None:
        """Help > Shortcuts."""
        ShortcutsDialog(parent=self).exec()

    def show_about(self) -> None:
        """Help > About."""
        from .about import AboutDialog

        AboutDialog(self).exec()
