"""File > Export structures as DICOM: choose the format, the structures and the output folder; the
export runs off the GUI thread (:func:`lundprobe_gui.io.dicom.export.export_patient`)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from ..core.patient import Patient
from ..io.dicom.export import ExportError, export_patient, roi_name

logger = logging.getLogger(__name__)


class ExportDialog(QtWidgets.QDialog):
    """Format, structures and folder of a DICOM export; ``done_export`` reports the result text."""

    finished_export = QtCore.Signal(bool, str)

    def __init__(self, patient: Patient, out_dir: Path, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export structures as DICOM")
        self.patient = patient
        self.format = QtWidgets.QComboBox()
        self.format.addItem("RT Structure Set (RTSTRUCT)", "rtstruct")
        self.format.addItem("DICOM Segmentation (DICOM-SEG)", "seg")
        self.list = QtWidgets.QListWidget()
        for ref in patient.reference_frame.structures.values():
            item = QtWidgets.QListWidgetItem(f"{roi_name(ref)}    [{ref.source}]")
            item.setData(QtCore.Qt.ItemDataRole.UserRole, f"{ref.name}:{ref.source}")
            item.setCheckState(QtCore.Qt.CheckState.Checked)
            self.list.addItem(item)
        self.folder = QtWidgets.QLineEdit(str(out_dir))
        browse = QtWidgets.QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.status = QtWidgets.QLabel("")
        self.status.setWordWrap(True)
        self.buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Close
        )
        self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        form = QtWidgets.QFormLayout(self)
        form.addRow("Format", self.format)
        form.addRow("Structures", self.list)
        form.addRow("Output folder", row)
        form.addRow(self.status)
        form.addRow(self.buttons)
        self.finished_export.connect(self._done)
        self.resize(560, 520)

    def _browse(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Export into", self.folder.text())
        if d:
            self.folder.setText(d)

    def chosen(self) -> list[str]:
        """``NAME:SOURCE`` of every ticked structure."""
        out = []
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.checkState() == QtCore.Qt.CheckState.Checked:
                out.append(item.data(QtCore.Qt.ItemDataRole.UserRole))
        return out

    def start(self) -> threading.Thread | None:
        """Run the export on a worker thread."""
        tokens = self.chosen()
        if not tokens:
            self.status.setText("Tick at least one structure.")
            return None
        fmt, out = self.format.currentData(), Path(self.folder.text()).expanduser()
        self.buttons.setEnabled(False)
        self.status.setText(f"Exporting {len(tokens)} structure(s)...")

        def work() -> None:
            try:
                res = export_patient(self.patient, fmt, out, tokens)
                notes = "".join(f"\n{n}" for n in res.notes)
                self.finished_export.emit(True, f"Wrote {res.main} ({len(res.structures)} structures).{notes}")
            except (ExportError, OSError, ValueError) as e:
                self.finished_export.emit(False, f"Export failed: {e}")

        t = threading.Thread(target=work, name="dicom-export", daemon=True)
        t.start()
        return t

    def _done(self, ok: bool, text: str) -> None:
        self.buttons.setEnabled(True)
        self.status.setText(text)
        logger.info("%s", text)
