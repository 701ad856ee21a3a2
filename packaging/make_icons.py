"""Render resources/lundprobe-gui.svg to the PNG, .ico and .icns icons.

    python packaging/make_icons.py          # rewrite the generated icons
    python packaging/make_icons.py --check  # exit 1 if any is missing or has the wrong size

The generated files are committed, so builds need neither this script nor Pillow. Run it again
after editing the SVG. Qt's own SVG renderer draws the PNGs (the app shows them through Qt, so
they look as the SVG does in the app); Pillow only packs those PNGs into .ico and .icns.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "resources" / "lundprobe-gui.svg"
PNG_DIR = ROOT / "resources" / "icons"
ICO = ROOT / "packaging" / "windows" / "lundprobe-gui.ico"
ICNS = ROOT / "packaging" / "macos" / "lundprobe-gui.icns"
SIZES = (16, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 32, 48, 64, 128, 256)  # .ico stops at 256 px


def png_path(size: int) -> Path:
    """Where the PNG of one size lives (the name the app and the Linux hicolor theme expect)."""
    return PNG_DIR / f"lundprobe-gui-{size}.png"


def render_pngs() -> None:
    """Draw the SVG at every size with QtSvg, offscreen."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtCore, QtGui, QtSvg

    app = QtGui.QGuiApplication.instance() or QtGui.QGuiApplication([sys.argv[0]])  # noqa: F841 - keeps Qt alive
    renderer = QtSvg.QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"Qt cannot read {SVG}")
    PNG_DIR.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        img = QtGui.QImage(size, size, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(QtCore.Qt.GlobalColor.transparent)
        painter = QtGui.QPainter(img)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter, QtCore.QRectF(0, 0, size, size))
        painter.end()
        if not img.save(str(png_path(size)), "PNG"):
            raise SystemExit(f"cannot write {png_path(size)}")


def pack_ico_icns() -> None:
    """Pack the rendered PNGs into a Windows .ico and a macOS .icns with Pillow."""
    from PIL import Image

    big = Image.open(png_path(512)).convert("RGBA")
    ICO.parent.mkdir(parents=True, exist_ok=True)
    # Pillow's ICO writer downsamples the first image to each size; start from the 256 px PNG,
    # and let the smaller entries come from Qt's own renderings via append_images.
    base = Image.open(png_path(256)).convert("RGBA")
    extra = [Image.open(png_path(s)).convert("RGBA") for s in ICO_SIZES if s != 256]
    base.save(ICO, format="ICO", sizes=[(s, s) for s in ICO_SIZES], append_images=extra)
    ICNS.parent.mkdir(parents=True, exist_ok=True)
    # The ICNS writer picks each slot's image from append_images by size, else scales the first.
    extra = [Image.open(png_path(s)).convert("RGBA") for s in SIZES if s != 512]
    big.save(ICNS, format="ICNS", append_images=extra)


def check() -> list[str]:
    """Problems with the generated icons (empty when all is well)."""
    from PIL import Image

    problems = []
    for size in SIZES:
        p = png_path(size)
        if not p.exists():
            problems.append(f"missing {p}")
            continue
        with Image.open(p) as im:
            if im.size != (size, size):
                problems.append(f"{p} is {im.size}, not {size}x{size}")
    for p in (ICO, ICNS):
        if not p.exists():
            problems.append(f"missing {p}")
    return problems


def main() -> int:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only check the generated icons")
    args = ap.parse_args()
    if not args.check:
        render_pngs()
        pack_ico_icns()
    problems = check()
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
