"""A vertical colour bar drawn from a :class:`~lundprobe_gui.render.colormaps.ColourBar`."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ..render.colormaps import ColourBar

_LABEL_X = 31


class ColourBarWidget(QtWidgets.QWidget):
    """Paints the bar image with its tick labels and a title."""

    def __init__(self, title: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.bar: ColourBar | None = None
        self._qimg: QtGui.QImage | None = None
        self.setMinimumSize(110, 180)

    def set_bar(self, bar: ColourBar | None) -> None:
        """Show a new bar (None hides the content)."""
        self.bar = bar
        self.setMinimumWidth(self.needed_width())
        if bar is not None:
            rgba = np.ascontiguousarray(bar.image)
            h, w = rgba.shape[:2]
            self._buf = rgba  # QImage does not own the memory
            self._qimg = QtGui.QImage(self._buf.data, w, h, 4 * w, QtGui.QImage.Format.Format_RGBA8888)
        else:
            self._qimg = None
        self.update()

    def _font(self) -> QtGui.QFont:
        f = QtGui.QFont(self.font())
        f.setPointSizeF(8.5)
        return f

    def needed_width(self) -> int:
        """Pixels the title and every tick label need, so none is cut off."""
        fm = QtGui.QFontMetrics(self._font())
        labels = [t.label for t in self.bar.ticks] if self.bar is not None else []
        ticks = max((fm.horizontalAdvance(s) for s in labels), default=0)
        return max(110, fm.horizontalAdvance(self.title) + 8, _LABEL_X + ticks + 6)

    def paintEvent(self, ev) -> None:
        p = QtGui.QPainter(self)
        p.fillRect(self.rect(), QtGui.QColor(25, 25, 25))
        p.setPen(QtGui.QColor(230, 230, 230))
        p.setFont(self._font())
        p.drawText(QtCore.QRectF(0, 0, self.width(), 16), QtCore.Qt.AlignmentFlag.AlignHCenter, self.title)
        if self.bar is None or self._qimg is None:
            p.end()
            return
        top, bottom = 22, self.height() - 8
        target = QtCore.QRectF(8, top, 16, bottom - top)
        p.fillRect(target, QtGui.QBrush(QtGui.QColor(60, 60, 60), QtCore.Qt.BrushStyle.Dense4Pattern))
        p.drawImage(target, self._qimg)
        h = self._qimg.height()
        for t in self.bar.ticks:
            y = top + (t.row + 0.5) / h * (bottom - top)
            p.drawLine(QtCore.QPointF(24, y), QtCore.QPointF(28, y))
            p.drawText(QtCore.QPointF(_LABEL_X, y + 4), t.label)
        p.end()
