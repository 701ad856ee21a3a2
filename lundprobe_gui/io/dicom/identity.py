"""Who and what a new DICOM object belongs to: patient, study, frame of reference and source slices.

For a DICOM patient these come from the reference series' own headers; for a NIfTI patient the
reference image is first written as a DICOM series (:mod:`.image_writer`) and they come from there,
so every exported object shares one Study / Frame of Reference UID set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydicom.dataset import Dataset

from ...version import __version__

logger = logging.getLogger(__name__)

MANUFACTURER = "lundprobe_gui"
MODEL = "lundprobe_gui"
SERIAL = "0"


@dataclass
class Reference:
    """The source image series of an export.

    Attributes
    ----------
    slices : list
        Per grid slice index (z), the header of that slice, or None where the series has no slice.
    """

    slices: list[Dataset | None]

    @property
    def first(self) -> Dataset:
        """The header of the lowest slice present."""
        return next(s for s in self.slices if s is not None)

    def present(self) -> list[tuple[int, Dataset]]:
        """(z, header) of every slice present."""
        return [(k, s) for k, s in enumerate(self.slices) if s is not None]


def sop_class_kwargs(ref: Reference) -> dict:
    """The patient and study arguments of :class:`highdicom.SOPClass`, copied from the source series."""
    d = ref.first
    return {
        "study_instance_uid": str(d.StudyInstanceUID),
        "manufacturer": MANUFACTURER,
        "manufacturer_model_name": MODEL,
        "software_versions": __version__,
        "device_serial_number": SERIAL,
        "patient_id": str(d.get("PatientID", "") or ""),
        "patient_name": d.get("PatientName", "") or "",
        "patient_birth_date": str(d.get("PatientBirthDate", "") or "") or None,
        "patient_sex": str(d.get("PatientSex", "") or "") or None,
        "accession_number": str(d.get("AccessionNumber", "") or "") or None,
        "study_id": str(d.get("StudyID", "") or "") or None,
        "study_date": str(d.get("StudyDate", "") or "") or None,
        "study_time": str(d.get("StudyTime", "") or "") or None,
        "referring_physician_name": d.get("ReferringPhysicianName", "") or None,
    }
