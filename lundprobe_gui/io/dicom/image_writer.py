"""A NIfTI reference image written as a single-frame DICOM series (CT or MR Image Storage).

A planning system imports a structure set only together with the images it references, so a
NIfTI patient's export starts by writing its reference image as a DICOM series with new Study,
Series and Frame of Reference UIDs. Geometry is kept exactly: orientation from the direction
matrix, each slice's position from the grid, pixel spacing and slice spacing from the spacing.
The common modules come from highdicom; the image modules (plane, pixel, CT/MR image) are set here.
"""

from __future__ import annotations

import datetime as _dt
import logging

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from ...core.geometry import Geometry
from ...version import __version__
from .identity import MANUFACTURER, MODEL, SERIAL

logger = logging.getLogger(__name__)

CT_IMAGE_UID = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_UID = "1.2.840.10008.5.1.4.1.1.4"


def _ds(v: float) -> str:
    return f"{v:.6f}".rstrip("0").rstrip(".") or "0"


def _stored(array: np.ndarray, is_ct: bool) -> tuple[np.ndarray, float, float]:
    """int16 stored values and (slope, intercept) so that stored * slope + intercept gives the values back."""
    a = np.nan_to_num(np.asarray(array, dtype=np.float64))
    lo, hi = float(a.min()), float(a.max())
    if np.array_equal(a, np.rint(a)) and lo >= -32768 and hi <= 32767:
        return a.astype(np.int16), 1.0, 0.0
    inter = lo if not is_ct else min(lo, -1024.0)
    slope = max((hi - inter) / 32000.0, 1e-6)
    return np.clip(np.rint((a - inter) / slope), 0, 32767).astype(np.int16), slope, inter


def build_series(
    array: np.ndarray, geometry: Geometry, is_ct: bool, patient_id: str, description: str = ""
) -> list[Dataset]:
    """One dataset per slice (z order) of a (z, y, x) image; not yet written."""
    study, series_uid, for_uid = hd.UID(), hd.UID(), hd.UID()
    now = _dt.datetime.now()
    stored, slope, inter = _stored(array, is_ct)
    m = geometry.matrix
    iop = [_ds(v) for v in (*m[:, 0], *m[:, 1])]
    window_lo, window_hi = np.percentile(array, [1, 99]) if array.size else (0.0, 1.0)
    out: list[Dataset] = []
    for k in range(geometry.shape_zyx[0]):
        ds = hd.SOPClass(
            study_instance_uid=study,
            series_instance_uid=series_uid,
            series_number=1,
            sop_instance_uid=hd.UID(),
            sop_class_uid=CT_IMAGE_UID if is_ct else MR_IMAGE_UID,
            instance_number=k + 1,
            modality="CT" if is_ct else "MR",
            manufacturer=MANUFACTURER,
            manufacturer_model_name=MODEL,
            software_versions=__version__,
            device_serial_number=SERIAL,
            transfer_syntax_uid=ExplicitVRLittleEndian,
            patient_id=patient_id[:64],
            patient_name=patient_id[:63] + "^",  # a family name only
            study_id="1",
            accession_number="",
            study_date=now.date(),
            study_time=now.time(),
            series_date=now.date(),
            series_time=now.time(),
            content_date=now.date(),
            content_time=now.time(),
            series_description=(description or f"{patient_id} reference image")[:64],
        )
        ds.FrameOfReferenceUID = for_uid
        ds.PositionReferenceIndicator = ""
        ds.PatientPosition = "HFS"
        ds.Laterality = ""
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"] if is_ct else ["DERIVED", "SECONDARY", "OTHER"]
        ds.AcquisitionNumber = 1
        ds.ImagePositionPatient = [_ds(v) for v in geometry.index_to_world((0.0, 0.0, float(k)))]
        ds.ImageOrientationPatient = iop
        ds.PixelSpacing = [_ds(geometry.spacing[1]), _ds(geometry.spacing[0])]
        ds.SliceThickness = _ds(geometry.spacing[2])
        ds.SpacingBetweenSlices = _ds(geometry.spacing[2])
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = int(geometry.size_xyz[1]), int(geometry.size_xyz[0])
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = _ds(inter), _ds(slope)
        ds.WindowCenter = _ds(float(window_lo + window_hi) / 2)
        ds.WindowWidth = _ds(max(float(window_hi - window_lo), 1.0))
        if is_ct:
            ds.RescaleType = "HU"
            ds.KVP = ""
        else:
            ds.ScanningSequence = "RM"  # research mode: the sequence that made the image is not known here
            ds.SequenceVariant = "NONE"
            ds.ScanOptions = ""
            ds.MRAcquisitionType = ""
            ds.RepetitionTime = ""
            ds.EchoTime = ""
            ds.EchoTrainLength = ""
            ds.MagneticFieldStrength = ""
            ds.ImagedNucleus = ""
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        out.append(ds)
    return out
