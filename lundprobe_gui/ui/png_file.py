"""Saving what a widget shows as a PNG file, through the app's one guarded writer."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6 import QtCore, QtGui

from ..io.guard import check_output_file
from ..io.writer import atomic_write

logger = logging.getLogger(__name__)


def save_png(pixmap: QtGui.QPixmap, path: str | Path) -> Path:
    """Encode ``pixmap`` as PNG and write it atomically to ``path``.

    Raises
    ------
    WriteRefused
        When ``path`` is an input file or lies in a patient folder or a dataset root.
    OSError
        When the image cannot be encoded or the file cannot be written (the message names it).
    """
    path = check_output_file(path)
    data = QtCore.QByteArray()
    buf = QtCore.QBuffer(data)
    buf.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    if not pixmap.save(buf, "PNG"):
        raise OSError(f"cannot encode the image as PNG for {path}")
    buf.close()
    atomic_write(path, bytes(data.data()))
    logger.info("wrote %s", path)
    return path
