"""The main window's opening part: patient folders and dataset roots, the browser, recent patients, drops.

:class:`~lundprobe_gui.ui.main_window.MainWindow` derives from :class:`OpeningWindow`; the widgets and the
loader it works with are made by the main window.
"""

from __future__ import annotations

import functools
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from ..io.open import is_dataset_root, list_patients
from .edit_controller import EditController
from .loader import PatientLoader
from .overrides import WindowOverride

MAX_RECENT = 10


class OpeningWindow(QtWidgets.QMainWindow):
    """Opening patients and datasets, asking about unsaved edits first (a study replaces it through ``override``)."""

    # made by MainWindow.__init__ and _build_menus
    override: WindowOverride | None
    loader: PatientLoader
    progress: QtWidgets.QProgressBar
    settings: QtCore.QSettings
    edit: EditController
    browser: QtWidgets.QTableWidget
    recent_menu: QtWidgets.QMenu
    _dataset_root: Path | None
    remembers_recent: bool = True
    """Whether an opened patient goes into File > Recent patients (not for a command-line render)."""

    def open_path(self, path: str | Path | None) -> None:
        """Open a patient folder or dataset root (the demo patient when None), in the background."""
        if self.override is not None:
            self.override.open_path(path)
            return
        if path is None:
            self.loader.start(None, demo=True)
            self.progress.setVisible(True)
            return
        path = Path(path)
        if is_dataset_root(path):
            self.show_dataset(path)
            entries = list_patients(path)
            if entries:
                self.open_path(entries[0].path)
            return
        if not self.confirm_discard():
            return
        self.statusBar().showMessage(f"Opening {path}...")
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.loader.start(path)

    def confirm_discard(self) -> bool:
        """Ask before dropping unsaved edits: save, discard or cancel."""
        if self.override is not None:
            return self.override.confirm_discard()
        dirty = self.edit.dirty()
        if not dirty:
            return True
        names = ", ".join(f"{n} ({s})" for n, s in dirty)
        answer = self.ask(
            f"Unsaved changes to {names}.", "Save them before closing the patient?", ("Save", "Discard", "Cancel")
        )
        if answer == "Cancel":
            return False
        if answer == "Save":
            self.edit.save(dirty, background=False)
            if self.edit.dirty():
                return False
        self.edit.discard_recovery()
        return True

    def ask(self, text: str, info: str, buttons: tuple[str, ...]) -> str:
        """Ask the user; returns the chosen button text (tests replace this)."""
        box = QtWidgets.QMessageBox(self)
        box.setText(text)
        box.setInformativeText(info)
        made: dict[QtWidgets.QAbstractButton, str] = {
            box.addButton(
                b,
                QtWidgets.QMessageBox.ButtonRole.AcceptRole
                if i == 0
                else QtWidgets.QMessageBox.ButtonRole.RejectRole
                if b == "Cancel"
                else QtWidgets.QMessageBox.ButtonRole.DestructiveRole,
            ): b
            for i, b in enumerate(buttons)
        }
        box.exec()
        return made.get(box.clickedButton(), buttons[-1])

    def show_dataset(self, root: Path) -> None:
        """List a dataset root's patients in the browser."""
        if self.override is not None:
            self.override.show_dataset(root)
            return
        self._dataset_root = root
        entries = list_patients(root)
        self.browser.setRowCount(len(entries))
        for i, e in enumerate(entries):
            first = QtWidgets.QTableWidgetItem(e.patient_id)
            first.setData(QtCore.Qt.ItemDataRole.UserRole, str(e.path))
            self.browser.setItem(i, 0, first)
            self.browser.setItem(i, 1, QtWidgets.QTableWidgetItem(e.layout))
            self.browser.setItem(i, 2, QtWidgets.QTableWidgetItem(""))
        self.browser.resizeColumnsToContents()

    def _browser_open(self, row: int, _col: int) -> None:
        item = self.browser.item(row, 0)
        if item is not None:
            self.open_path(item.data(QtCore.Qt.ItemDataRole.UserRole))

    def open_patient_dialog(self) -> None:
        """File > Open patient folder."""
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Open patient folder", str(self._last_dir()))
        if d:
            self.open_path(d)

    def open_dataset_dialog(self) -> None:
        """File > Open dataset root."""
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Open dataset root", str(self._last_dir()))
        if d:
            if is_dataset_root(d):
                self.show_dataset(Path(d))
            else:
                self.open_path(d)

    def _last_dir(self) -> Path:
        recent = self.recent()
        return Path(recent[0]).parent if recent else Path.home()

    def recent(self) -> list[str]:
        """Recently opened patient folders, newest first (absolute paths)."""
        val = self.settings.value("recent", [])
        if isinstance(val, str):
            val = [val]
        # a relative entry (written by an older version) meant the folder the app was started in then
        return [str(v) for v in val if Path(str(v)).is_absolute()] if isinstance(val, list | tuple) else []

    def _remember(self, path: Path) -> None:
        if self.override is not None:
            self.override.remember(path)
            return
        if not self.remembers_recent:
            return
        path = Path(path).absolute()  # opened as ds/P from one folder, it must still open from another
        items = [str(path)] + [p for p in self.recent() if p != str(path)]
        self.settings.setValue("recent", items[:MAX_RECENT])
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.recent():
            self.recent_menu.addAction(p, functools.partial(self.open_path, p))
        self.recent_menu.setEnabled(bool(self.recent()))

    def dragEnterEvent(self, ev: QtGui.QDragEnterEvent) -> None:
        if ev.mimeData().hasUrls() and any(Path(u.toLocalFile()).is_dir() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev: QtGui.QDropEvent) -> None:
        for u in ev.mimeData().urls():
            p = Path(u.toLocalFile())
            if p.is_dir():
                self.open_path(p)
                ev.acceptProposedAction()
                return
