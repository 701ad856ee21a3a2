"""Reading the headers of the DICOM files of a folder tree (no pixel data), and telling their kinds apart."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from ...core.patient import Problem
from .files import is_dicom_file, walk

logger = logging.getLogger(__name__)

DEFER_BYTES = 1024
"""Values longer than this stay on disk while headers are read (pixel data, contour points)."""

RTSTRUCT_UID = "1.2.840.10008.5.1.4.1.1.481.3"
RTDOSE_UID = "1.2.840.10008.5.1.4.1.1.481.2"
RTPLAN_UIDS = frozenset({"1.2.840.10008.5.1.4.1.1.481.5", "1.2.840.10008.5.1.4.1.1.481.8"})
SEG_UID = "1.2.840.10008.5.1.4.1.1.66.4"
IMAGE_MODALITIES = frozenset({"CT", "MR", "PT", "NM", "US", "RTIMAGE", "OT", "SC"})


@dataclass
class DicomFile:
    """The header of one DICOM file, and what kind of object it is."""

    path: Path
    ds: Dataset

    @property
    def sop_class(self) -> str:
        """SOP Class UID ('' when absent)."""
        return str(self.ds.get("SOPClassUID", ""))

    @property
    def modality(self) -> str:
        """Modality ('' when absent)."""
        return str(self.ds.get("Modality", "")).upper()

    @property
    def kind(self) -> str:
        """``image``, ``rtstruct``, ``rtdose``, ``rtplan``, ``seg`` or ``other``."""
        sop, mod = self.sop_class, self.modality
        if sop == RTSTRUCT_UID or mod == "RTSTRUCT":
            return "rtstruct"
        if sop == RTDOSE_UID or mod == "RTDOSE":
            return "rtdose"
        if sop in RTPLAN_UIDS or mod in ("RTPLAN", "RTIONPLAN"):
            return "rtplan"
        if sop == SEG_UID or mod == "SEG":
            return "seg"
        if mod in IMAGE_MODALITIES or "ImagePositionPatient" in self.ds:
            return "image"
        return "other"

    def uid(self, keyword: str) -> str:
        """A UID attribute as a string ('' when absent)."""
        return str(self.ds.get(keyword, "") or "")


def read_header(path: Path) -> DicomFile | Problem | None:
    """The header of one file: a :class:`DicomFile`, a :class:`Problem` for a damaged one, None if not DICOM."""
    if not is_dicom_file(path):
        return None
    try:
        ds = pydicom.dcmread(path, defer_size=DEFER_BYTES)
    except (InvalidDicomError, OSError, ValueError, KeyError, TypeError, EOFError, AttributeError) as e:
        return Problem(str(path), "corrupt", f"cannot read the DICOM header: {e}")
    except Exception as e:  # noqa: BLE001 - pydicom raises many types on hostile input
        return Problem(str(path), "corrupt", f"cannot read the DICOM header: {type(e).__name__}: {e}")
    return DicomFile(Path(path), ds)


def scan(root: Path, workers: int = 4) -> tuple[list[DicomFile], list[Problem]]:
    """Every DICOM file under ``root`` with its header, and the problems met on the way."""
    paths, problems = walk(Path(root))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        got = list(pool.map(read_header, paths))
    files = [g for g in got if isinstance(g, DicomFile) and (g.sop_class or g.modality)]
    problems += [g for g in got if isinstance(g, Problem)]
    problems += [
        Problem(str(g.path), "corrupt", "DICOM file without SOP Class UID or Modality; ignored")
        for g in got
        if isinstance(g, DicomFile) and not (g.sop_class or g.modality)
    ]
    logger.info("%s: %d DICOM files among %d files", root, len(files), len(paths))
    return files, problems
