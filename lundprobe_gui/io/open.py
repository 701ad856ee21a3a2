"""Opening a patient folder of any supported layout, and listing the patients of a dataset root."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..core.patient import Patient
from . import lundprobe

logger = logging.getLogger(__name__)


class NoImageError(FileNotFoundError):
    """The folder holds no usable image; the message says what was expected."""


@dataclass(frozen=True)
class PatientEntry:
    """One row of a dataset-root listing."""

    patient_id: str
    path: Path
    layout: str


def detect_layout(path: Path) -> str | None:
    """Name of the layout of a patient folder, or None."""
    path = Path(path)
    if lundprobe.detect(path):
        return "lundprobe"
    return None


def open_patient(path: str | Path) -> Patient:
    """Open one patient folder, reading headers only.

    Never raises for one bad file: those become entries of ``Patient.problems``.

    Raises
    ------
    NoImageError
        When the path does not exist or holds no usable image at all.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise NoImageError(f"{path}: no such file or folder")
    if not path.is_dir():
        raise NoImageError(f"{path}: not a folder; expected a patient folder (with MR_StorT2/ and sCT/)")
    layout = detect_layout(path)
    if layout == "lundprobe":
        try:
            return lundprobe.discover(path)
        except FileNotFoundError as e:
            raise NoImageError(str(e)) from e
    raise NoImageError(f"{path}: no usable image found; expected a LUND-PROBE patient folder "
                       "(MR_StorT2/image.nii.gz, sCT/image.nii.gz)")


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


def is_dataset_root(path: str | Path) -> bool:
    """True when the folder is not a patient itself but holds patient folders."""
    path = Path(path)
    return path.is_dir() and detect_layout(path) is None and bool(list_patients(path))
