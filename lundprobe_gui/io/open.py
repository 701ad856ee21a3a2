"""Opening a patient folder of any supported layout, and listing the patients of a dataset root.

Layouts are recognised from the files present (no voxel data is decoded), in this order:

``lundprobe``
    ``MR_StorT2/`` or ``sCT/`` (:mod:`lundprobe_gui.io.lundprobe`).
``structseg``
    ``data.nii.gz`` (+ ``label.nii.gz``) (:mod:`lundprobe_gui.io.structseg`).
``multilabel``
    NIfTI files and a label table (``labels.json`` / ``labels.csv`` / ``<stem>_labels.*``, here or
    in the parent folder) (:mod:`lundprobe_gui.io.generic`, :mod:`lundprobe_gui.io.multilabel`).
``generic``
    any other folder holding NIfTI files (:mod:`lundprobe_gui.io.generic`).
``dicom``
    a folder tree holding DICOM files at any depth (:mod:`lundprobe_gui.io.dicom`). A folder whose
    subfolders hold DICOM files of two or more PatientIDs is a dataset root instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..core.patient import Patient
from ..paths import demo_edits_dir
from . import dicom, generic, lundprobe, multilabel, structseg
from .edits import attach_saved_edits
from .guard import register_patient
from .probe import unsupported_files

logger = logging.getLogger(__name__)


class NoImageError(FileNotFoundError):
    """The folder holds no usable image; the message says what was expected."""


@dataclass(frozen=True)
class PatientEntry:
    """One row of a dataset-root listing."""

    patient_id: str
    path: Path
    layout: str


LAYOUTS = ("lundprobe", "structseg", "multilabel", "generic", "dicom")
"""Layout names, as ``Patient.layout`` and ``PatientEntry.layout`` give them."""

_DETECTORS = (
    ("lundprobe", lundprobe.detect),
    ("structseg", structseg.detect),
    ("multilabel", generic.detect_multilabel),
    ("generic", generic.detect),
    ("dicom", dicom.detect),
)
_EXPECTED = (
    "expected a LUND-PROBE patient folder (MR_StorT2/image.nii.gz, sCT/image.nii.gz), a StructSeg case "
    "(data.nii.gz, label.nii.gz), a folder of NIfTI files or a folder of DICOM files"
)


def detect_layout(path: Path) -> str | None:
    """Name of the layout of a patient folder (one of :data:`LAYOUTS`), or None."""
    path = Path(path)
    try:
        if not path.is_dir():
            return None
        layout = next((name for name, detect in _DETECTORS if detect(path)), None)
        if layout == "dicom" and len(dicom.patient_ids_below(path)) > 1:
            return None  # a root of DICOM patients
        return layout
    except OSError:  # a folder without search permission: its content cannot be looked at
        return None


def _discover(path: Path, layout: str) -> Patient:
    if layout == "lundprobe":
        return lundprobe.discover(path)
    if layout == "structseg":
        return structseg.discover(path)
    if layout == "dicom":
        return dicom.discover(path)
    return generic.discover(path, layout)


EditsArg = bool | str | os.PathLike | Iterable[str | os.PathLike | bool | None] | None
"""What :func:`open_patient` takes as ``edits`` (in a list, True is the default folder; None and False are skipped)."""


def open_patient(path: str | os.PathLike | bytes, edits: EditsArg = True) -> Patient:
    """Open one patient folder of any layout, reading headers (and, outside LUND-PROBE, a cheap look
    at the voxel values to tell masks and label maps from images; see :mod:`lundprobe_gui.io.generic`).

    ``Patient.layout`` says which layout was found. Never raises for one bad file: those become entries of
    ``Patient.problems``.

    Parameters
    ----------
    path : path
        The patient folder.
    edits : path, list of paths or bool
        Output folder(s) whose saved edits of this patient are read back: the newest version of
        each series becomes a structure of its source (``Patient.versions`` lists the versions).
        True (the default) is the patient's default output folder (:meth:`Patient.default_out_dir`);
        False reads none; in a list, True stands for the default folder. Where two folders hold the
        same series, the first wins. ``Patient.edits_dir`` is the first folder given.

    Raises
    ------
    NoImageError
        When the path does not exist or holds no usable image at all.
    """
    path = Path(os.fsdecode(path)).expanduser()  # bytes names (any bytes on Linux) are accepted too
    if not path.exists():
        raise NoImageError(f"{path}: no such file or folder")
    if not path.is_dir():
        raise NoImageError(f"{path}: not a folder; {_EXPECTED}")
    denied = folder_access_error(path)
    if denied is not None:
        raise NoImageError(f"{path}: cannot read the folder ({denied.strerror or denied})") from denied
    # absolute from here on: a folder opened as "." or "ds/P" must keep meaning the same folder (default
    # output folder beside the dataset, recent patients, provenance) whatever the working folder becomes
    path = path.absolute()
    layout = detect_layout(path)
    if layout is None:
        other = "; ".join(f"{Path(pr.path).name}: {pr.message}" for pr in unsupported_files(path))
        raise NoImageError(
            f"{path}: no usable image found ({other}); {_EXPECTED}"
            if other
            else f"{path}: no usable image found; {_EXPECTED}"
        )
    try:
        patient = _discover(path, layout)
    except FileNotFoundError as e:
        raise NoImageError(str(e)) from e
    patient.edits_home = demo_edits_dir(path)
    register_patient(patient)  # its folder, dataset root and input files are never written while it lives
    for folder in _edits_folders(patient, edits):
        patient.edits_dir = patient.edits_dir or folder
        attach_saved_edits(patient, folder)
    return patient


def _edits_folders(patient: Patient, edits: EditsArg) -> list[Path]:
    if edits is True:
        return [patient.default_out_dir()]
    if edits is None or edits is False:
        return []
    if isinstance(edits, (str, os.PathLike)):
        return [Path(edits).expanduser()]
    # in a list, True stands for the default folder and None for nothing (an output folder not configured)
    folders = [
        patient.default_out_dir() if e is True else Path(e).expanduser()
        for e in edits
        if e is not None and e is not False
    ]
    return list(dict.fromkeys(folders))


def list_patients(root: str | Path) -> list[PatientEntry]:
    """The patient folders directly inside a dataset root, sorted by name."""
    root = Path(root)
    out = []
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []
    for child in children:
        layout = detect_layout(child)
        if layout:
            out.append(PatientEntry(child.name, child, layout))
    return out


def dataset_files(patient_dir: str | Path) -> list[Path]:
    """Files outside a patient folder that opening it may read, as they exist now.

    The shared label tables of a multi-label dataset (``labels.json``, ``labels.csv``) and the
    LUND-PROBE missing-structure lists (``missingStructures_*.json``), in the parent folder.
    Everything else a layout reads lies inside the patient folder.
    """
    parent = Path(patient_dir).parent
    found = [parent / n for n in multilabel.TABLE_NAMES if (parent / n).is_file()]
    with contextlib.suppress(OSError):
        found += sorted(parent.glob(lundprobe.MISSING_LIST_GLOB))
    return found


def unreadable_folders(root: str | Path) -> list[Path]:
    """Folders directly inside a dataset root that cannot be listed, so their layout cannot be told.

    :func:`list_patients` leaves them out; a batch run or ``study init`` names them instead of
    letting a patient vanish without a word.
    """
    try:
        children = sorted(p for p in Path(root).iterdir() if os.path.isdir(p) and not p.name.startswith("."))
    except OSError:
        return []
    return [child for child in children if folder_access_error(child) is not None]


def folder_access_error(path: str | Path) -> OSError | None:
    """Why the files of a folder cannot be looked at (no read or no search permission), or None."""
    try:
        names = os.listdir(path)
        if names:
            os.lstat(os.path.join(path, names[0]))
    except OSError as e:
        return e
    return None


def is_dataset_root(path: str | Path) -> bool:
    """True when the folder is not a patient itself but holds patient folders."""
    path = Path(path)
    return path.is_dir() and detect_layout(path) is None and bool(list_patients(path))
