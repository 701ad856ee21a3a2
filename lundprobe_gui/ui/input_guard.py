"""Keyboard and wheel input that reaches the widget the user meant.

Two traps of a window full of docks, closed in one application-wide event filter:

* The mouse wheel over a panel scrolls the panel. A combo box, spin box or slider takes the wheel
  only once it has focus (a click or Tab gave it), so scrolling past "Editable area" can no longer
  set it to "outside BODY" on the way.
* Single-key view shortcuts (R, D, I, 1-8, ...) work wherever focus is, except where the key is
  text being typed: an editable line edit or text box, or a digit, sign or decimal point in a spin
  box. Item views, combo boxes and buttons would otherwise keep letters for their keyboard search.
"""

from __future__ import annotations

import logging
from typing import TypeGuard

from PySide6 import QtCore, QtGui, QtWidgets

logger = logging.getLogger(__name__)

_WHEEL_GUARDED = (QtWidgets.QComboBox, QtWidgets.QAbstractSpinBox, QtWidgets.QAbstractSlider)
_NUMBER_TEXT = frozenset("0123456789+-.,eE")
_NAVIGATING = (
    QtWidgets.QAbstractItemView,
    QtWidgets.QComboBox,
    QtWidgets.QAbstractSpinBox,
    QtWidgets.QAbstractSlider,
    QtWidgets.QLineEdit,
    QtWidgets.QTextEdit,
    QtWidgets.QPlainTextEdit,
    QtWidgets.QTabBar,
)
"""Widgets whose own use of the arrow, page, Return and Escape keys wins over the view's."""
_COMMAND_MODIFIERS = (
    QtCore.Qt.KeyboardModifier.ControlModifier
    | QtCore.Qt.KeyboardModifier.AltModifier
    | QtCore.Qt.KeyboardModifier.MetaModifier
)


def _wheel_guarded(obj: QtCore.QObject) -> TypeGuard[QtWidgets.QWidget]:
    # scroll bars are what the wheel is for
    return isinstance(obj, _WHEEL_GUARDED) and not isinstance(obj, QtWidgets.QScrollBar)


def keeps_key(widget: QtWidgets.QWidget | None, ev: QtGui.QKeyEvent) -> bool:
    """Whether ``widget`` (the focus widget) keeps the key of ``ev`` for itself (typing, moving in a list).

    Parameters
    ----------
    widget : QWidget or None
        The widget with keyboard focus.
    ev : QKeyEvent
        The key.

    Returns
    -------
    bool
        True in an editable line edit, text edit or editable combo box; in a spin box only for
        the characters of a number. Keys that type nothing (arrows, pages, Return, Escape) stay
        with a list, box, slider or text field that has focus.
    """
    if widget is None:
        return False
    text = ev.text()
    if not text.isprintable() or not text:
        # arrows, pages, Return, Escape: a list, box or slider with focus uses them itself
        return isinstance(widget, _NAVIGATING)
    if isinstance(widget, QtWidgets.QLineEdit):
        spin = widget.parentWidget()
        if isinstance(spin, QtWidgets.QAbstractSpinBox):
            widget = spin
        else:
            return not widget.isReadOnly()
    if isinstance(widget, QtWidgets.QAbstractSpinBox):
        if widget.isReadOnly():
            return False
        if isinstance(widget, (QtWidgets.QSpinBox, QtWidgets.QDoubleSpinBox)):
            return bool(text) and text in _NUMBER_TEXT
        return True  # date and time edits take letters (AM/PM)
    if isinstance(widget, (QtWidgets.QTextEdit, QtWidgets.QPlainTextEdit)):
        return not widget.isReadOnly()
    if isinstance(widget, QtWidgets.QComboBox):
        return widget.isEditable()
    return False


class InputGuard(QtCore.QObject):
    """Application event filter; ``single_keys`` are the window's shortcut keys without modifiers.

    Install it on the application with :meth:`install`; it removes itself when its parent (the
    window) is destroyed.
    """

    def __init__(self, single_keys: set[int], parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.single_keys = set(single_keys)

    def install(self) -> None:
        """Filter every widget's events from now on, and those of widgets that exist already."""
        app = QtWidgets.QApplication.instance()
        if not isinstance(app, QtWidgets.QApplication):
            return
        app.installEventFilter(self)
        for w in app.allWidgets():
            if _wheel_guarded(w):
                _strong_focus(w)

    def eventFilter(self, obj: QtCore.QObject, ev: QtCore.QEvent) -> bool:
        t = ev.type()
        if t == QtCore.QEvent.Type.Wheel:
            if _wheel_guarded(obj) and not obj.hasFocus():
                ev.ignore()  # unhandled: Qt passes the wheel on to the parent, the scrolling panel
                return True
        elif t == QtCore.QEvent.Type.ShortcutOverride and isinstance(ev, QtGui.QKeyEvent):
            if (
                ev.key() in self.single_keys
                and not ev.modifiers() & _COMMAND_MODIFIERS
                and not keeps_key(obj if isinstance(obj, QtWidgets.QWidget) else None, ev)
            ):
                ev.ignore()  # nobody claims the key: the window's shortcut fires
                return True
        elif t == QtCore.QEvent.Type.Polish and _wheel_guarded(obj):
            _strong_focus(obj)
        return False


def _strong_focus(w: QtWidgets.QWidget) -> None:
    # the default WheelFocus would give a box focus on the first wheel turn over it
    if w.focusPolicy() == QtCore.Qt.FocusPolicy.WheelFocus:
        w.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)


def single_keys(actions: list[QtGui.QAction]) -> set[int]:
    """Qt key codes of the actions' shortcuts that are one key without Ctrl, Alt or Meta."""
    out: set[int] = set()
    for a in actions:
        for seq in a.shortcuts():
            if seq.count() != 1:
                continue
            combo = seq[0]  # type: ignore[index]  # PySide6's stubs lack QKeySequence.__getitem__
            if combo.keyboardModifiers() & _COMMAND_MODIFIERS:
                continue
            out.add(int(combo.key().value) if hasattr(combo.key(), "value") else int(combo.key()))
    return out
