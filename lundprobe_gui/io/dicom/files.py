"""Finding DICOM files in a folder tree without reading them (no pydicom import: detection stays cheap).

Any depth and any file names: a file is DICOM when it carries the ``DICM`` marker after its
128-byte preamble. Everything else (text, NIfTI, hidden files) is skipped silently; special
files (FIFOs, devices, sockets) are never opened for reading and are reported, because reading
a FIFO blocks forever. The walk never follows symbolic links to folders (no cycles) and stops
after :data:`MAX_ENTRIES` entries, with a problem saying so.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from ...core.patient import Problem

logger = logging.getLogger(__name__)

MAX_ENTRIES = 100_000
"""Files and folders looked at before the walk gives up (a folder that is a whole disk never hangs)."""
SKIP_DIRS = frozenset({"lundprobe_edits", "__pycache__"})


def is_dicom_file(path: str | os.PathLike) -> bool:
    """Whether a regular file starts with a DICOM preamble and the ``DICM`` marker (never blocks)."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size < 132:
            return False
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            head = os.pread(fd, 132, 0)
        finally:
            os.close(fd)
    except OSError:
        return False
    return head[128:132] == b"DICM"


def walk(root: Path, limit: int = MAX_ENTRIES) -> tuple[list[Path], list[Problem]]:
    """Regular files under ``root`` in a stable order, and problems (special files, the entry limit)."""
    files: list[Path] = []
    problems: list[Problem] = []
    seen = 0
    stack = [Path(root)]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:
            problems.append(Problem(str(folder), "unreadable", f"cannot list folder: {e.strerror or e}"))
            continue
        subdirs = []
        for entry in entries:
            seen += 1
            if seen > limit:
                problems.append(
                    Problem(str(root), "too-many-files", f"more than {limit} files and folders; the rest was not read")
                )
                return files, problems
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIP_DIRS:
                        subdirs.append(Path(entry.path))
                    continue
                mode = os.stat(entry.path).st_mode
            except OSError:
                continue  # a dangling link or a file gone meanwhile
            if stat.S_ISREG(mode):
                files.append(Path(entry.path))
            elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
                problems.append(
                    Problem(entry.path, "special-file", "not a regular file (FIFO, device or socket); skipped")
                )
        stack.extend(reversed(subdirs))
    return files, problems


def first_dicom(root: Path, limit: int = 2000) -> Path | None:
    """The first DICOM file found under ``root`` (looking at no more than ``limit`` entries), or None."""
    seen = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        for name in sorted(names):
            seen += 1
            if seen > limit:
                return None
            if not name.startswith(".") and is_dicom_file(os.path.join(folder, name)):
                return Path(folder) / name
    return None
