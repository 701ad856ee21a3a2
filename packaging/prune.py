"""Trim what PyInstaller's analysis collected, before COLLECT copies it (used by lundprobe-gui.spec).

PyInstaller's Qt hooks take every plugin of a type, and its dependency analysis then bundles each
plugin's shared libraries. Plugins for embedded displays (eglfs, linuxfb, vnc) and the GTK3 theme
drag in QtNetwork, Kerberos, cairo, pango... for nothing. We drop those plugins, then drop every
library that no remaining binary needs any more.
"""

from __future__ import annotations

import fnmatch
import functools
import posixpath
import subprocess
import sys

# Never needed on a desktop, or harmful (the GTK3 theme would load the host's libgtk-3 against the
# bundled copies of glib/cairo/pango it dragged in). Kept: xcb, wayland, offscreen, minimal.
DROP_PATTERNS = (
    "*/tests/*",  # test suites inside numpy/scipy/skimage
    "PySide6/Qt/translations/*",  # Qt's own dialog translations; the app is English
    "PySide6/Qt/qml/*",
    "PySide6/Qt/plugins/designer/*",
    "PySide6/Qt/plugins/egldeviceintegrations/*",  # eglfs: full-screen on embedded boards
    "PySide6/Qt/plugins/generic/*",  # evdev/tuio input, only for eglfs/linuxfb
    "PySide6/Qt/plugins/platforms/libqeglfs.so",
    "PySide6/Qt/plugins/platforms/libqminimalegl.so",
    "PySide6/Qt/plugins/platforms/libqlinuxfb.so",
    "PySide6/Qt/plugins/platforms/libqvnc.so",
    "PySide6/Qt/plugins/platforms/libqvkkhrdisplay.so",
    "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
)


def _posix(dest: str) -> str:
    return dest.replace("\\", "/")


def dropped(dest: str) -> bool:
    """Whether a collected file is one of DROP_PATTERNS."""
    return any(fnmatch.fnmatch(_posix(dest), pat) for pat in DROP_PATTERNS)


@functools.lru_cache(maxsize=None)
def _needed(path: str) -> frozenset[str]:
    """DT_NEEDED sonames of an ELF file (objdump comes with binutils, which PyInstaller needs anyway)."""
    out = subprocess.run(["objdump", "-p", path], capture_output=True, text=True, check=False).stdout
    return frozenset(line.split()[1] for line in out.splitlines() if line.strip().startswith("NEEDED"))


def _prunable(dest: str) -> bool:
    """Libraries that are only there because something needed them: system libs at the top and Qt's libs."""
    d = _posix(dest)
    return "/" not in d or d.startswith("PySide6/Qt/lib/")


def _reach(roots: list[tuple], candidates: dict[str, tuple]) -> set[str]:
    """Sonames needed, directly or through other candidates, by the root binaries."""
    wanted: set[str] = set()
    todo = [e[1] for e in roots]
    while todo:
        for soname in _needed(todo.pop()):
            if soname not in wanted:
                wanted.add(soname)
                if soname in candidates:
                    todo.append(candidates[soname][1])
    return wanted


def prune_binaries(binaries: list[tuple]) -> list[tuple]:
    """Drop DROP_PATTERNS, then (Linux only) the libraries that only dropped files needed.

    A library is removed only if something needed it before and nothing needs it after: libraries
    that PyInstaller added for another reason (libpython, for the bootloader) always stay.
    """
    kept = [e for e in binaries if not dropped(e[0])]
    if not sys.platform.startswith("linux") or len(kept) == len(binaries):
        return kept
    files = [e for e in binaries if e[2] != "SYMLINK"]
    candidates = {posixpath.basename(_posix(e[0])): e for e in files if _prunable(e[0])}
    before = _reach([e for e in files if not _prunable(e[0])], candidates)
    after = _reach([e for e in files if not _prunable(e[0]) and not dropped(e[0])], candidates)
    orphans = before - after
    out = []
    for e in kept:
        name = posixpath.basename(_posix(e[0]))
        target = posixpath.basename(_posix(e[1])) if e[2] == "SYMLINK" else name
        if (e[2] == "SYMLINK" or _prunable(e[0])) and (name in orphans or target in orphans):
            continue
        out.append(e)
    return out


def prune_datas(datas: list[tuple], binaries: list[tuple]) -> list[tuple]:
    """Drop DROP_PATTERNS, and symlinks (PyInstaller files them under datas) to files no longer collected.

    ``binaries`` is the already pruned binaries list. A symlink entry is (link, target dest, "SYMLINK").
    """
    datas = [e for e in datas if not dropped(e[0])]
    present = {_posix(e[0]) for e in binaries} | {_posix(e[0]) for e in datas if e[2] != "SYMLINK"}

    def target(e: tuple) -> str:
        return posixpath.normpath(posixpath.join(posixpath.dirname(_posix(e[0])), _posix(e[1])))

    return [e for e in datas if e[2] != "SYMLINK" or target(e) in present]
