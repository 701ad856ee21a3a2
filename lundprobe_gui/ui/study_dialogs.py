"""Small prompts of the reader-study screens: the observer ID, the admin PIN, a reason, a case.

Each function shows a modal dialog and returns the answer, or None when the user cancels. The
study mode calls them through its own methods (``StudyMode.ask_observer`` and friends), so tests
replace those methods and never see a dialog.
"""

from __future__ import annotations

import html
import logging
import re

from PySide6 import QtCore, QtGui, QtWidgets

logger = logging.getLogger(__name__)

OBSERVER_PATTERN = r"[A-Za-z0-9_-]+"
_OBSERVER_RE = re.compile(rf"^{OBSERVER_PATTERN}$")


def valid_observer_id(text: str) -> bool:
    """Letters, digits, ``_`` and ``-`` only (the study core checks the same rule again)."""
    return bool(_OBSERVER_RE.match(text or ""))


class ObserverDialog(QtWidgets.QDialog):
    """Asks for the observer ID; OK stays disabled until the ID is well formed."""

    def __init__(self, study_name: str = "", parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Start study")
        lay = QtWidgets.QVBoxLayout(self)
        title = f"Study: {study_name}" if study_name else "Reader study"
        head = QtWidgets.QLabel(f"<b>{html.escape(title)}</b>")
        head.setTextFormat(QtCore.Qt.TextFormat.RichText)
        lay.addWidget(head)
        lay.addWidget(QtWidgets.QLabel("Your observer ID (letters, digits, _ and - only):"))
        self.edit = QtWidgets.QLineEdit()
        self.edit.setValidator(QtGui.QRegularExpressionValidator(QtCore.QRegularExpression(OBSERVER_PATTERN), self))
        self.edit.setPlaceholderText("e.g. obs1")
        lay.addWidget(self.edit)
        self.hint = QtWidgets.QLabel("")
        self.hint.setStyleSheet("color: #a33;")
        lay.addWidget(self.hint)
        self.buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.edit.textChanged.connect(self._check)
        self._check("")

    def _check(self, text: str) -> None:
        ok = valid_observer_id(text)
        self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
        self.hint.setText("" if ok or not text else "Only letters, digits, _ and - are allowed")

    def observer(self) -> str:
        """The ID typed."""
        return self.edit.text().strip()


def ask_observer_id(parent: QtWidgets.QWidget | None, study_name: str = "") -> str | None:
    """The observer ID, or None when cancelled."""
    dlg = ObserverDialog(study_name, parent)
    if dlg.exec() != QtWidgets.QDialog.DialogCode.Accepted:
        return None
    return dlg.observer() or None


def ask_pin(parent: QtWidgets.QWidget | None, text: str, title: str = "Study administrator") -> str | None:
    """A PIN or passphrase (typed hidden), or None when cancelled."""
    pin, ok = QtWidgets.QInputDialog.getText(parent, title, text, QtWidgets.QLineEdit.EchoMode.Password)
    return pin if ok else None


def ask_reason(parent: QtWidgets.QWidget | None, text: str) -> str | None:
    """A free-text reason for the audit log (may be empty), or None when cancelled."""
    reason, ok = QtWidgets.QInputDialog.getText(parent, "Study administrator", text)
    return reason if ok else None


def choose_item(parent: QtWidgets.QWidget | None, title: str, text: str, items: list[str]) -> str | None:
    """One of ``items``, or None when cancelled."""
    if not items:
        return None
    item, ok = QtWidgets.QInputDialog.getItem(parent, title, text, items, 0, False)
    return item if ok else None


def inform(parent: QtWidgets.QWidget | None, title: str, text: str, warning: bool = False) -> None:
    """A message box (warning or information)."""
    if warning:
        QtWidgets.QMessageBox.warning(parent, title, text)
    else:
        QtWidgets.QMessageBox.information(parent, title, text)
