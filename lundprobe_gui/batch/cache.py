"""The per-patient result cache that makes batch runs resumable.

One JSON file per (patient, analysis) holds the outcome of the analysis and the fingerprint of
what produced it:

* the app version and the cache format;
* the analysis and its parameters (``analysis.cache_key()``), and the opener's key if it has one;
* the patient folder's absolute path;
* every file the patient was read from: all files under the patient folder, the dataset's shared
  tables (:func:`lundprobe_gui.io.open.dataset_files`) and the opener's ``extra_inputs``; each with
  its size and modification time (ns), and with ``rehash=True`` its SHA-256 as well.

An entry is used only when all of this matches what is on disk now, so a rerun after an
interruption, or on a dataset that grew or changed, computes only what is missing or changed. A
file that appears in a patient folder (a new observer's mask) changes the fingerprint too. With
``rehash`` the contents must match as well: a file rewritten with the same size and a restored
modification time is caught. An entry written without hashes does not satisfy a rehash run and is
recomputed once. Failed outcomes are never stored, so a rerun tries those patients again.

Entries are written atomically (temporary file, fsync, rename): a run killed while writing leaves
the previous entry or none, never half of one. A file that does not parse is a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..metrics.analyses import FAILED, Analysis, Outcome
from ..version import __version__

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1
HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Fingerprint:
    """What a patient's result was computed from.

    Attributes
    ----------
    patient_path : str
        Absolute path of the patient folder.
    files : tuple of tuple
        ``(name, size, mtime_ns, sha256)`` per input file, sorted by name; ``name`` is relative to
        the patient folder (``../labels.json`` for a shared table, absolute for an opener's extra
        input); size and mtime are None for a file that cannot be read (a dangling link), and
        sha256 is None unless hashed (and always for a FIFO or a device, which are never opened).
    opener : dict
        The opener's ``cache_key()``, or empty.
    hashed : bool
        Whether the contents of the regular files were hashed (``rehash``).
    """

    patient_path: str
    files: tuple[tuple[str, int | None, int | None, str | None], ...]
    opener: dict
    hashed: bool = False


def _walk(folder: Path) -> list[Path]:
    """Every non-folder entry under ``folder`` (links to folders are not followed).

    A folder that cannot be read adds nothing here; opening the patient reports it.
    """
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, onerror=lambda e: logger.debug("%s", e)):
        dirnames.sort()
        out.extend(Path(dirpath) / n for n in sorted(filenames))
    return out


def _sha256(path: Path) -> str | None:
    """SHA-256 of a regular file; None for anything else. Never blocks on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        h = hashlib.sha256()
        while chunk := os.read(fd, HASH_CHUNK):
            h.update(chunk)
        return h.hexdigest()
    except OSError:
        return None
    finally:
        os.close(fd)


def _name(path: Path, patient_dir: Path) -> str:
    try:
        return path.relative_to(patient_dir).as_posix()
    except ValueError:
        if path.parent == patient_dir.parent:
            return f"../{path.name}"
        return str(path)


def fingerprint(patient_dir: str | os.PathLike, rehash: bool = False, opener: Any = None) -> Fingerprint:
    """The fingerprint of a patient's input files as they are now.

    Parameters
    ----------
    patient_dir : str or PathLike
        The patient folder.
    rehash : bool
        Also hash the contents of every regular file (reads them all).
    opener : object, optional
        The batch run's opener; its ``extra_inputs(path)`` and ``cache_key()`` are used when present.

    Returns
    -------
    Fingerprint
    """
    from ..io.open import dataset_files

    folder = Path(os.path.abspath(patient_dir))
    paths = _walk(folder) + dataset_files(folder)
    extra = getattr(opener, "extra_inputs", None)
    if extra is not None:
        paths += [Path(os.path.abspath(p)) for p in extra(folder)]
    files = []
    size: int | None
    mtime: int | None
    for p in dict.fromkeys(paths):
        try:
            st = os.stat(p)
            size, mtime = st.st_size, st.st_mtime_ns
            regular = stat.S_ISREG(st.st_mode)
        except OSError:
            size = mtime = None
            regular = False
        digest = _sha256(p) if rehash and regular else None
        files.append((_name(p, folder), size, mtime, digest))
    files.sort(key=lambda f: f[0])
    key = getattr(opener, "cache_key", None)
    return Fingerprint(str(folder), tuple(files), dict(key()) if key is not None else {}, rehash)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:64] or "patient"


class ResultCache:
    """A folder of per-patient results (see the module docstring).

    Parameters
    ----------
    folder : str or PathLike
        Created on first write.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def entry_path(self, fp: Fingerprint, analysis: Analysis) -> Path:
        """The entry file of one patient and analysis (parameters and opener included)."""
        ident = json.dumps([fp.patient_path, analysis.cache_key(), fp.opener], sort_keys=True)
        digest = hashlib.sha256(ident.encode("utf-8")).hexdigest()[:24]
        return self.folder / f"{_safe(analysis.name)}_{_safe(Path(fp.patient_path).name)}_{digest}.json"

    def get(self, fp: Fingerprint, analysis: Analysis) -> tuple[str, Outcome] | None:
        """``(patient_id, outcome)`` stored for exactly these inputs, or None."""
        path = self.entry_path(fp, analysis)
        try:
            with open(path, "rb") as fh:
                entry = json.loads(fh.read(64 << 20))
            if not self._matches(entry, fp, analysis):
                return None
            return str(entry["patient_id"]), Outcome.from_dict(entry["outcome"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            logger.warning("cache entry %s is unreadable (%s); computing again", path, e)
            return None

    @staticmethod
    def _matches(entry: dict, fp: Fingerprint, analysis: Analysis) -> bool:
        if (
            entry.get("format") != CACHE_FORMAT
            or entry.get("app_version") != __version__
            or entry.get("analysis") != analysis.cache_key()
            or entry.get("opener") != fp.opener
            or entry.get("patient_path") != fp.patient_path
        ):
            return False
        stored = [tuple(f) for f in entry.get("files", [])]
        if len(stored) != len(fp.files):
            return False
        for (name, size, mtime, digest), now in zip(stored, fp.files):
            if (name, size) != now[:2]:
                return False
            if fp.hashed:
                if digest != now[3]:
                    return False
            elif mtime != now[2]:
                return False
        return True

    def put(self, fp: Fingerprint, analysis: Analysis, patient_id: str, outcome: Outcome) -> Path | None:
        """Store an outcome (a failed one is not stored); returns the entry path."""
        from ..io.writer import atomic_write

        if outcome.status == FAILED:
            return None
        entry = {
            "format": CACHE_FORMAT,
            "app_version": __version__,
            "analysis": analysis.cache_key(),
            "opener": fp.opener,
            "patient_path": fp.patient_path,
            "patient_id": patient_id,
            "files": [list(f) for f in fp.files],
            "outcome": outcome.to_dict(),
        }
        path = self.entry_path(fp, analysis)
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(entry, allow_nan=False).encode("utf-8"))
        return path


def check_cache_folder(folder: Path, protected: Sequence[Path]) -> None:
    """Refuse a cache folder inside (or being) a dataset or patient folder of the run.

    Raises
    ------
    ValueError
        With a message naming the folder.
    """
    folder = Path(os.path.realpath(folder))
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder}: exists and is not a folder")
    for p in protected:
        p = Path(os.path.realpath(p))
        if folder == p or p in folder.parents:
            raise ValueError(f"{folder}: is inside the dataset ({p}); the cache is never written into a dataset")
