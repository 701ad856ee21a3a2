"""Where the app may write: never an input file, a patient folder or a dataset root.

Two checks keep the data safe; every writer in the app goes through both.

* :func:`~lundprobe_gui.io.output_root.claim_output_root`, once per operation, on the folder a
  writer was given (the edits output folder, a study or review folder, an export folder, the
  recovery area, a demo dataset) and :func:`check_output_file` on a file the user named (a CSV, a
  PNG). The path is resolved (symbolic links followed) and refused when it is or lies inside a
  patient folder or a dataset root: the ones of the patients, studies and reviews open in this
  process (:func:`protect`), and any folder that *looks* like one (a LUND-PROBE patient with its
  image, a StructSeg case, a folder holding LUND-PROBE patients or the dataset's
  ``missingStructures_*`` and ``patGeometryInformation_*`` files). An accepted folder gets a marker
  file, :data:`MARKER`: the app's own output folders are recognised by it, so one inside a dataset
  root (a study folder made there, say) keeps working. A folder the app wrote before markers existed
  (its sidecars, ``study.json`` or ``review.json`` name the app, and it holds no image) is
  recognised by its content and marked.
* :func:`check_target`, on every file written, replaced or removed (``io.writer.atomic_write``,
  :func:`remove_file`, the audit log's append): refused when the path lies in a protected patient
  folder, in a protected dataset root without an output marker on the way, or when the file
  there *is* an input file of an open patient, compared by inode (a hard link of an input is an
  input).

A refusal is a :class:`WriteRefused` (a ``PermissionError``) whose message names the path and why.
"""

from __future__ import annotations

import itertools
import logging
import os
import stat
import threading
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .small_files import read_json_file

logger = logging.getLogger(__name__)

MARKER = ".lundprobe-output"
"""The marker file of a folder the app writes into (JSON: app, kind, created)."""

KINDS = ("edits", "study", "review", "export", "recovery", "demo", "report")
DATASET_LAYOUTS = ("lundprobe", "structseg")
"""Layouts whose patient folders always sit in a dataset root of their own."""
MAX_MARKER_BYTES = 4096
_SCAN_SUBDIRS = 64
_LEGACY_SCAN_FILES = 4000


class WriteRefused(PermissionError):
    """A write that would touch an input file, a patient folder or a dataset root."""


@dataclass(frozen=True)
class Protected:
    """Folders and files that no writer may touch.

    Parameters
    ----------
    patient_dirs : iterable of path
        Patient folders: nothing is ever written inside them.
    dataset_roots : iterable of path
        Dataset roots: nothing is written inside them except in an app output folder (marked).
    input_files : iterable of path
        Input files (compared by inode when a write would replace an existing file).
    """

    patient_dirs: frozenset[str] = frozenset()
    dataset_roots: frozenset[str] = frozenset()
    input_files: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        patient_dirs: Iterable[str | Path] = (),
        dataset_roots: Iterable[str | Path] = (),
        input_files: Iterable[str | Path] = (),
    ) -> Protected:
        """Build from paths (folders are resolved, so a link to one is the folder itself)."""
        return cls(
            frozenset(_real(p) for p in patient_dirs),
            frozenset(_real(p) for p in dataset_roots),
            tuple(str(p) for p in input_files),
        )

    @classmethod
    def of_patient(cls, patient: Any) -> Protected:
        """A patient's folder, its dataset root and the files its model listed when it was opened.

        The folder holding a LUND-PROBE patient or a StructSeg case is a dataset root; the folder
        holding a plain folder of NIfTI files is only one when it has the dataset's files (a case
        in ``~/data/case1`` may have its edits in ``~/data/case1-edits``).
        """
        root = getattr(patient, "dataset_root", None)
        dataset = root is not None and (getattr(patient, "layout", "") in DATASET_LAYOUTS or has_dataset_files(root))
        return cls.of(
            [patient.path], [root] if root is not None and dataset else [], getattr(patient, "input_files", ())
        )

    def __or__(self, other: Protected) -> Protected:
        return Protected(
            self.patient_dirs | other.patient_dirs,
            self.dataset_roots | other.dataset_roots,
            self.input_files + other.input_files,
        )


@dataclass
class _Registry:
    patients: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)
    extra: dict[int, Protected] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ended: list[int] = field(default_factory=list)  # tokens to drop, appended without the lock
    tokens: Iterator[int] = field(default_factory=itertools.count)


_REGISTRY = _Registry()
_DATASET_CACHE: dict[str, tuple[int, bool]] = {}


def register_patient(patient: Any) -> None:
    """Protect an opened patient's folder, dataset root and input files while it is alive."""
    with _REGISTRY.lock:
        _REGISTRY.patients.add(patient)


def protect(protected: Protected) -> int:
    """Protect folders until :func:`unprotect` is called with the returned token (a study's dataset)."""
    with _REGISTRY.lock:
        token = next(_REGISTRY.tokens)
        _REGISTRY.extra[token] = protected
    return token


def unprotect(token: int) -> None:
    """End a :func:`protect`.

    Takes no lock and changes no dict: it may run as a finalizer inside a garbage collection,
    while this thread holds the registry's lock or iterates it.
    """
    _REGISTRY.ended.append(token)


def registered() -> Protected:
    """Everything protected in this process right now."""
    with _REGISTRY.lock:
        while _REGISTRY.ended:
            _REGISTRY.extra.pop(_REGISTRY.ended.pop(), None)
        patients = list(_REGISTRY.patients)
        extra = list(_REGISTRY.extra.values())
    out = Protected()
    for p in patients:
        out = out | Protected.of_patient(p)
    for e in extra:
        out = out | e
    return out


# -- path helpers ---------------------------------------------------------------------------------
def _real(path: str | Path) -> str:
    return os.path.normcase(os.path.realpath(os.path.expanduser(os.fspath(path))))


def _within(path: str, folder: str) -> bool:
    """Whether resolved ``path`` is ``folder`` or lies inside it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def folder_and_parents(real: str) -> list[str]:
    """``real`` and each of its parents, innermost first."""
    out = [real]
    while True:
        parent = os.path.dirname(out[-1])
        if parent == out[-1]:
            return out
        out.append(parent)


def read_marker(folder: str | Path) -> dict | None:
    """The folder's marker (a small regular file naming the app), or None."""
    path = os.path.join(os.fspath(folder), MARKER)
    if os.path.islink(path):
        return None
    d = _small_json(path, MAX_MARKER_BYTES)
    return d if d is not None and d.get("app") == "lundprobe_gui" else None


def is_patient_dir(folder: str | Path) -> bool:
    """A LUND-PROBE patient (``MR_StorT2/`` or ``sCT/`` with its image, or ``nnUNetOutput/``) or a StructSeg case."""
    f = os.fspath(folder)
    for sub in ("MR_StorT2", "sCT"):
        for name in ("image.nii.gz", "image.nii"):
            if os.path.isfile(os.path.join(f, sub, name)):
                return True
    if os.path.isdir(os.path.join(f, "MR_StorT2", "nnUNetOutput")):
        return True
    return os.path.isfile(os.path.join(f, "data.nii.gz")) or os.path.isfile(os.path.join(f, "data.nii"))


DATASET_FILES = tuple(
    f"{what}_{part}.{ext}"
    for what, ext in (("missingStructures", "json"), ("patGeometryInformation", "csv"))
    for part in ("basePart", "extendedPart")
)
"""Files that only a LUND-PROBE dataset root holds."""


def has_dataset_files(folder: str | Path) -> bool:
    """Whether a folder holds one of :data:`DATASET_FILES` (a few ``stat`` calls)."""
    f = os.fspath(folder)
    return any(os.path.isfile(os.path.join(f, n)) for n in DATASET_FILES)


def is_dataset_dir(folder: str | Path) -> bool:
    """A dataset root: :func:`has_dataset_files`, or a patient folder among its first 64 subfolders."""
    f = os.fspath(folder)
    if has_dataset_files(f):
        return True
    try:
        mtime = os.stat(f).st_mtime_ns
    except OSError:
        return False
    hit = _DATASET_CACHE.get(f)
    if hit is not None and hit[0] == mtime:
        return hit[1]
    found = False
    try:
        with os.scandir(f) as it:
            subdirs = 0
            for entry in it:
                try:
                    if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                        subdirs += 1
                        if is_patient_dir(entry.path):
                            found = True
                            break
                        if subdirs >= _SCAN_SUBDIRS:
                            break
                except OSError:
                    continue
    except OSError:
        return False
    _DATASET_CACHE[f] = (mtime, found)
    return found


def looks_like_app_output(folder: str | Path) -> bool:
    """A folder the app wrote before markers existed: ``study.json``/``review.json`` of the app, or a
    version sidecar naming the app, and no patient folder anywhere in it."""
    f = os.fspath(folder)
    if is_patient_dir(f) or is_dataset_dir(f):
        return False
    for name, key, value in (("study.json", "seed", None), ("review.json", "format", "lundprobe_gui-review")):
        d = _small_json(os.path.join(f, name))
        if d is not None and (d.get(key) == value if value else key in d):
            return True
    seen = 0
    for dirpath, dirnames, filenames in os.walk(f):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if dirpath != f and is_patient_dir(dirpath):
            return False
        for name in filenames:
            seen += 1
            if seen > _LEGACY_SCAN_FILES:
                return False
            if name.endswith(".json") and "_v" in name:
                d = _small_json(os.path.join(dirpath, name))
                if d is not None and d.get("app") == "lundprobe_gui" and "file_sha256" in d:
                    return True
    return False


def _small_json(path: str, limit: int = 1 << 20) -> dict | None:
    try:
        d = read_json_file(path, limit, "marker")
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


# -- the checks -----------------------------------------------------------------------------------
def _refuse(path: str | Path, why: str) -> WriteRefused:
    return WriteRefused(f"{path}: {why}; the app never writes into a dataset. Choose a folder outside it")


def _marked_between(real: str, top: str) -> bool:
    """Whether a folder strictly inside ``top``, on the way down to ``real``, carries the output marker."""
    for a in folder_and_parents(real):
        if a == top or not _within(a, top):
            return False
        if read_marker(a) is not None:
            return True
    return False


def _check_protected_folders(real: str, shown: str | Path, prot: Protected) -> None:
    for d in prot.patient_dirs:
        if _within(real, d):
            raise _refuse(shown, "this is a patient folder" if real == d else f"inside the patient folder {d}")
    for d in prot.dataset_roots:
        if _within(real, d) and not _marked_between(real, d):
            raise _refuse(shown, "this is a dataset root" if real == d else f"inside the dataset root {d}")


def check_output_root(root: str | Path, protected: Protected | None = None, kind: str | None = None) -> str:
    """Refuse ``root`` as an output folder when it is or lies in a patient folder or a dataset root.

    Returns the resolved folder. Nothing is written (see
    :func:`~lundprobe_gui.io.output_root.claim_output_root`). A ``demo``
    root may be a dataset the demo generator made before (its marker says ``demo``).

    Raises
    ------
    WriteRefused
        Naming the folder and the patient folder or dataset root it would write into.
    """
    real = _real(root)
    prot = registered() | (protected or Protected())
    if kind == "demo":
        _check_protected_folders(real, root, prot)
        if (read_marker(real) or {}).get("kind") == "demo":
            return real
    legacy = os.path.isdir(real) and read_marker(real) is None and looks_like_app_output(real)
    if not legacy:
        _check_protected_folders(real, root, prot)
    else:
        for d in prot.patient_dirs:
            if _within(real, d):
                raise _refuse(root, f"inside the patient folder {d}")
    marked = legacy
    for i, a in enumerate(folder_and_parents(real)):
        if is_patient_dir(a):
            raise _refuse(root, f"{a} is a patient folder" if a != real else "this is a patient folder")
        if marked:
            continue  # an app output folder: a dataset root above it (a study made inside one) is fine
        # Looking through the subfolders is kept to the folder and its parent, so an unrelated
        # patient folder somewhere above never blocks writing; dataset files are looked for all the way up.
        dataset = is_dataset_dir(a) if i < 2 else has_dataset_files(a)
        if read_marker(a) is not None and not dataset:
            marked = True
        elif dataset:
            raise _refuse(root, "this is a dataset root" if a == real else f"inside the dataset root {a}")
    return real


def check_output_file(path: str | Path, protected: Protected | None = None) -> Path:
    """Refuse a file the user named (CSV, PNG) in a patient folder or a dataset root, or that is an input.

    Raises
    ------
    WriteRefused
        When the file is an input or lies in a patient folder or a dataset root.
    IsADirectoryError
        When ``path`` names a folder: the user meant a file in it, or mistyped.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder: give the name of the file to write")
    folder = path.parent if str(path.parent) else Path(".")
    try:
        check_output_root(folder, protected)
    except WriteRefused as e:
        raise WriteRefused(f"{path}: cannot be written there: {e}") from None
    check_target(path, protected)
    return path


def _inode(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _input_inodes(prot: Protected, deep: bool) -> dict[tuple[int, int], str]:
    """Inodes of the listed input files; with ``deep`` also of every file in the protected folders."""
    out: dict[tuple[int, int], str] = {}
    for f in prot.input_files:
        ino = _inode(f)
        if ino is not None:
            out.setdefault(ino, f)
    if deep:
        for d in sorted(prot.patient_dirs):
            for dirpath, dirnames, filenames in os.walk(d):
                dirnames[:] = [x for x in dirnames if not x.startswith(".")]
                for name in filenames:
                    p = os.path.join(dirpath, name)
                    ino = _inode(p)
                    if ino is not None:
                        out.setdefault(ino, p)
        for d in sorted(prot.dataset_roots):
            try:
                names = os.listdir(d)
            except OSError:
                continue
            for name in names:
                ino = _inode(os.path.join(d, name))
                if ino is not None:
                    out.setdefault(ino, os.path.join(d, name))
    return out


def check_target(path: str | Path, protected: Protected | None = None) -> None:
    """Refuse to write, replace or remove ``path`` when it is an input or lies in a protected folder.

    The last path component is not followed: a link there is replaced, never written through.

    Raises
    ------
    WriteRefused
        Naming the file and the input or folder it would touch.
    """
    path = Path(path)
    parent = os.path.realpath(os.fspath(path.parent) or ".")
    real = os.path.normcase(os.path.join(parent, path.name))
    prot = registered() | (protected or Protected())
    if path.name == MARKER:
        # the marker itself goes into a folder the output-root check accepts (an app folder of an
        # older version inside a dataset root is marked on first use)
        check_output_root(parent, protected)
    else:
        _check_protected_folders(real, path, prot)
    try:
        st = os.lstat(path)
    except OSError:
        return
    if not stat.S_ISREG(st.st_mode):
        return
    inputs = _input_inodes(prot, deep=st.st_nlink > 1)
    hit = inputs.get((st.st_dev, st.st_ino))
    if hit is not None:
        raise _refuse(path, f"this file is the input file {hit} (same inode)")


def remove_file(path: str | Path, protected: Protected | None = None) -> bool:
    """Remove one of the app's own files after :func:`check_target`; False when it was not there."""
    check_target(path, protected)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def file_mode(path: str | Path | None = None) -> int:
    """The permission bits for a new file: the replaced file's, else ``0o666 & ~umask``."""
    if path is not None:
        try:
            st = os.stat(path)
            if stat.S_ISREG(st.st_mode):
                return stat.S_IMODE(st.st_mode)
        except OSError:
            pass
    return 0o666 & ~current_umask()


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux ``/proc``)."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # os.umask only sets: set and restore at once
        mask = os.umask(0o022)
        os.umask(mask)
    return mask
