"""Claiming an output folder: checked by the guard, created, and marked as the app's own.

The check is :func:`~lundprobe_gui.io.guard.check_output_root`; the marker file
(:data:`~lundprobe_gui.io.guard.MARKER`) is written by the app's one file writer, so this module
sits above both.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from pathlib import Path

from .guard import KINDS, MARKER, Protected, check_output_root, folder_and_parents, read_marker
from .writer import atomic_write

logger = logging.getLogger(__name__)


def claim_output_root(root: str | Path, kind: str, protected: Protected | None = None, mark: bool = True) -> Path:
    """Check an output folder (:func:`check_output_root`), create it and mark it as the app's.

    Parameters
    ----------
    root : path
        The folder a writer was given.
    kind : str
        One of :data:`KINDS` (recorded in the marker).
    protected : Protected, optional
        Folders protected for this operation besides the registered ones (a study's dataset).
    mark : bool
        Write the marker (False for a folder another program reads file by file: a DICOM export).

    Returns
    -------
    Path
        ``root`` (as given), now existing and marked (or inside a marked folder).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    real = check_output_root(root, protected, kind)
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    # a folder inside a marked one (a study's output/) needs no marker of its own; a demo dataset
    # always carries its own, which is what lets the generator write over it again
    if (
        mark
        and read_marker(real) is None
        and (kind == "demo" or not any(read_marker(a) for a in folder_and_parents(real)))
    ):
        write_marker(root, kind)
    return root


def write_marker(folder: Path, kind: str) -> None:
    """Write the output marker into ``folder`` (kept when one is there already)."""
    data = {
        "app": "lundprobe_gui",
        "kind": kind,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "note": "written by lundprobe_gui: this folder holds the app's output, never input data",
    }
    try:
        atomic_write(Path(folder) / MARKER, (json.dumps(data, indent=2) + "\n").encode(), overwrite=False)
        logger.info("marked %s as a %s output folder", folder, kind)
    except OSError:
        if read_marker(folder) is None:  # else another process marked it at the same moment
            raise
