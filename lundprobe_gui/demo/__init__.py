"""Synthetic LUND-PROBE patients (deterministic from a seed), and the cached demo patient.

The demo patient is generated once into the user's cache. A generation writes into a private
``.partial`` folder next to its final place and is renamed into place only when complete, so an
interrupted run never leaves a half-written patient that a later start would open, and two apps
starting at once cannot write into the same folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from ..io.writer import atomic_write
from ..paths import demo_patient_dir
from .generator import DemoOptions, generate, patient_id

logger = logging.getLogger(__name__)

__all__ = [
    "DemoOptions",
    "demo_ready",
    "ensure_demo",
    "ensure_demo_cohort",
    "generate",
    "install_generated",
    "is_demo_patient",
    "partial_dir",
    "patient_id",
    "sweep_partials",
]

DEFAULT_SIZE = "full"
"""The demo patient has the dataset's resolution (0.47 mm); "small" is the coarse preview shown first."""
STALE_PARTIAL_S = 3600.0
"""Where processes cannot be asked whether they live, a partial generation this old is abandoned."""
_MARKER = ".complete"
_PARTIAL = ".partial-"


def _root(size: str, part: str, seed: int, patients: int = 1) -> Path:
    # one patient lives where demo_patient_dir says; larger cohorts get their own folder
    root = demo_patient_dir(size, part, seed)
    return root if patients == 1 else root.with_name(f"{root.name}-n{patients}")


def demo_ready(size: str = DEFAULT_SIZE, part: str = "extended", seed: int = 0) -> Path | None:
    """The cached demo patient folder if it has been generated completely, else None."""
    root = _root(size, part, seed)
    return root / patient_id(part, 0) if (root / _MARKER).is_file() else None


def is_demo_patient(path: Path | str, size: str, part: str = "extended", seed: int = 0) -> bool:
    """Whether ``path`` is the cached demo patient of that size."""
    return Path(path) == demo_patient_dir(size, part, seed) / patient_id(part, 0)


def partial_dir(size: str = DEFAULT_SIZE, part: str = "extended", seed: int = 0, patients: int = 1) -> Path:
    """A fresh folder name to generate the demo dataset into before :func:`install_generated`."""
    root = _root(size, part, seed, patients)
    return root.parent / f".{root.name}{_PARTIAL}{os.getpid()}-{uuid.uuid4().hex[:8]}"


def install_generated(
    tmp: Path, size: str = DEFAULT_SIZE, part: str = "extended", seed: int = 0, patients: int = 1
) -> Path:
    """Mark a finished generation in ``tmp`` complete and rename it into place; returns the first patient folder.

    When another process got there first, its dataset is kept and ``tmp`` removed.
    """
    root = _root(size, part, seed, patients)
    atomic_write(tmp / _MARKER, b"ok\n")
    if root.exists() and not (root / _MARKER).is_file():
        shutil.rmtree(root, ignore_errors=True)  # left by an interrupted run of an older version
    try:
        os.rename(tmp, root)
    except OSError:
        if not (root / _MARKER).is_file():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return root / patient_id(part, 0)


def sweep_partials(size: str = DEFAULT_SIZE, part: str = "extended", seed: int = 0, patients: int = 1) -> int:
    """Remove partial generations whose process is gone (killed, crashed); returns how many."""
    root = _root(size, part, seed, patients)
    if not root.parent.is_dir():
        return 0
    swept = 0
    for d in root.parent.glob(f".{root.name}{_PARTIAL}*"):
        pid = d.name.rsplit(_PARTIAL, 1)[1].split("-")[0]
        if pid.isdigit() and _alive(int(pid), d):
            continue
        shutil.rmtree(d, ignore_errors=True)
        swept += 1
    return swept


def _alive(pid: int, folder: Path) -> bool:
    if pid == os.getpid():
        return True
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process there: judge by age
        try:
            return time.time() - folder.stat().st_mtime < STALE_PARTIAL_S
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def ensure_demo(
    size: str = DEFAULT_SIZE, part: str = "extended", seed: int = 0, progress: Callable[[str], None] | None = None
) -> Path:
    """The cached demo patient folder, generated on first use (about 2 s small, 40 s full)."""
    return ensure_demo_cohort(1, size, part, seed, progress)[0]


def ensure_demo_cohort(
    patients: int,
    size: str = "small",
    part: str = "extended",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """The cached demo dataset of ``patients`` patients (generated on first use); their folders."""
    root = _root(size, part, seed, patients)
    folders = [root / patient_id(part, i) for i in range(patients)]
    if (root / _MARKER).is_file():
        return folders
    sweep_partials(size, part, seed, patients)
    tmp = partial_dir(size, part, seed, patients)
    logger.info("generating %d %s demo patient(s) into %s", patients, size, tmp)
    try:
        generate(tmp, DemoOptions(patients=patients, part=part, size=size, seed=seed), progress)
        install_generated(tmp, size, part, seed, patients)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folders
