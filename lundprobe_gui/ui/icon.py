"""The application icon, from the PNGs (and SVG) shipped in ``lundprobe_gui.resources``."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from PySide6 import QtGui

# Rendered from resources/lundprobe-gui.svg by packaging/make_icons.py.
SIZES = (16, 32, 48, 64, 128, 256, 512)


def _resources_dir() -> Path:
    """The resources folder: the installed (or frozen) package, else the source tree."""
    try:
        d = importlib.resources.files("lundprobe_gui.resources")
        if (d / "icons").is_dir():
            return Path(str(d))
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "resources"


def icon_paths() -> list[Path]:
    """The icon files that exist, PNGs smallest first, then the SVG."""
    d = _resources_dir()
    paths = [d / "icons" / f"lundprobe-gui-{s}.png" for s in SIZES] + [d / "lundprobe-gui.svg"]
    return [p for p in paths if p.is_file()]


def app_icon() -> QtGui.QIcon:
    """The app's icon with every size, for ``QApplication.setWindowIcon``.

    PNGs come first so that each size is a hand-checked rendering; the SVG is added last for
    sizes in between (Qt picks the closest pixmap, or renders the SVG through its icon engine
    when the QtSvg plugin is present). An empty QIcon when nothing is found: never raises.
    """
    icon = QtGui.QIcon()
    for p in icon_paths():
        if p.suffix == ".png" or icon.isNull():
            icon.addFile(str(p))
    return icon
