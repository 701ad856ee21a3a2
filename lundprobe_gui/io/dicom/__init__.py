"""The ``dicom`` layout: a folder tree of DICOM files (image series, RTSTRUCT, RTDOSE, RTPLAN, DICOM-SEG).

Reading is lazy as for NIfTI: discovery reads headers only (:mod:`.scan`), image series and
doses decode when they are first shown, and ROIs and segments are rasterised when they load.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .files import first_dicom

logger = logging.getLogger(__name__)

LAYOUT = "dicom"


def detect(path: Path) -> bool:
    """A DICOM patient folder holds a DICOM file somewhere below it."""
    return first_dicom(Path(path)) is not None


def discover(path: Path):
    """See :func:`lundprobe_gui.io.dicom.patient.discover`."""
    from .patient import discover as _discover

    return _discover(Path(path))


def patient_ids_below(path: Path, limit: int = 50) -> set[str]:
    """The PatientIDs of the first DICOM file of each child folder (telling a root of patients from one patient)."""
    import pydicom

    ids: set[str] = set()
    try:
        children = sorted(p for p in Path(path).iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return ids
    for child in children[:limit]:
        f = first_dicom(child, limit=200)
        if f is None:
            continue
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["PatientID"])
        except Exception as e:  # noqa: BLE001 - a damaged file says nothing about the layout
            logger.debug("%s: %s", f, e)
            continue
        ids.add(str(ds.get("PatientID", "") or child.name))
    return ids
