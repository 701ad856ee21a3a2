"""Settings widgets built from a tool's declarative options (:mod:`lundprobe_gui.edit.options`).

No tool has hand-written widgets: each option becomes a spin box, check box or combo box here,
writes its value into the tool's settings object through :func:`~lundprobe_gui.edit.options.set_option`
(the same validation scripts get) and hides itself while it does not apply (``shown_when``).
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6 import QtCore, QtWidgets

from ..edit.options import Option, set_option
from ..edit.tool import Tool

logger = logging.getLogger(__name__)


class ToolOptions(QtWidgets.QWidget):
    """The settings form of one tool class, bound to one settings object.

    Signals
    -------
    changed(str)
        The option (settings field) the user changed.
    """

    changed = QtCore.Signal(str)

    def __init__(self, tool_cls: type[Tool], settings: Any, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.tool_cls = tool_cls
        self.settings = settings
        self.form = QtWidgets.QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.widgets: dict[str, QtWidgets.QWidget] = {}
        for opt in tool_cls.options:
            w = self._make(opt)
            w.setToolTip(opt.tooltip)
            self.widgets[opt.name] = w
            if opt.kind == "bool":
                self.form.addRow("", w)
            else:
                self.form.addRow(opt.label, w)
        self.sync()

    def _make(self, opt: Option) -> QtWidgets.QWidget:
        if opt.kind == "bool":
            w = QtWidgets.QCheckBox(opt.label)
            w.toggled.connect(lambda v, o=opt: self._set(o, v))
            return w
        if opt.kind == "choice":
            c = QtWidgets.QComboBox()
            for value, text in opt.choices:
                c.addItem(text, value)
            c.currentIndexChanged.connect(lambda i, o=opt, c=c: self._set(o, c.itemData(i)))
            return c
        s: QtWidgets.QSpinBox | QtWidgets.QDoubleSpinBox
        if opt.kind == "int":
            s = QtWidgets.QSpinBox()
            s.setRange(int(opt.minimum), int(opt.maximum))
            s.setSingleStep(max(1, int(opt.step)))
        else:
            s = QtWidgets.QDoubleSpinBox()
            s.setDecimals(opt.decimals)
            s.setRange(opt.minimum, opt.maximum)
            s.setSingleStep(opt.step)
        s.setSuffix(opt.suffix)
        s.valueChanged.connect(lambda v, o=opt: self._set(o, v))
        return s

    def _set(self, opt: Option, value: Any) -> None:
        try:
            set_option(self.settings, opt, value)
        except ValueError as e:
            logger.warning("%s: %s", self.tool_cls.name, e)
            self.sync()
            return
        self._update_shown()
        self.changed.emit(opt.name)

    def sync(self) -> None:
        """Show the settings object's current values (after a shortcut or another tool changed them)."""
        for opt in self.tool_cls.options:
            w = self.widgets[opt.name]
            value = getattr(self.settings, opt.name)
            w.blockSignals(True)
            if isinstance(w, QtWidgets.QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, QtWidgets.QComboBox):
                i = w.findData(value)
                if i >= 0:
                    w.setCurrentIndex(i)
            else:
                w.setValue(value)  # type: ignore[attr-defined]
            w.blockSignals(False)
        self._update_shown()

    def _update_shown(self) -> None:
        for opt in self.tool_cls.options:
            self.form.setRowVisible(self.widgets[opt.name], opt.is_shown(self.settings))

    def widget(self, name: str) -> QtWidgets.QWidget:
        """The widget of option ``name``."""
        return self.widgets[name]
