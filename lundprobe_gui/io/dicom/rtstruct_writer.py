"""A new RT Structure Set built from the model's masks.

Every structure is contoured from its mask (never copied from an input file): marching squares
at the 0.5 level on each slice of the image series gives closed polygons through the midpoints
between inside and outside voxel centres, so rasterising them again by the voxel-centre rule
(:func:`lundprobe_gui.io.dicom.rtstruct.rasterise`) gives back exactly the same voxels. A hole is
a separate contour inside its outer contour (even-odd). Each contour references its image slice.
The common modules (patient, study, series, equipment, SOP common) come from highdicom.
"""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian
from skimage.measure import approximate_polygon, find_contours

from ...core.geometry import Geometry
from ...core.mask import Mask
from .identity import Reference, sop_class_kwargs
from .scan import RTSTRUCT_UID

logger = logging.getLogger(__name__)

STUDY_COMPONENT_UID = "1.2.840.10008.3.1.2.3.1"
"""The SOP Class that RT Referenced Study items name (Detached Study Management, as planning systems expect)."""


@dataclass(frozen=True)
class ExportStructure:
    """One ROI to write: its name in the file, its mask, colour and how it was made."""

    name: str
    mask: Mask
    colour: tuple[int, int, int]
    algorithm: str = "MANUAL"


def slice_contours(plane: np.ndarray) -> list[np.ndarray]:
    """Closed (N, 2) contours of one boolean plane in (column, row) index units, outer and hole contours alike."""
    padded = np.pad(plane, 1).astype(np.float32)
    out = []
    for c in find_contours(padded, 0.5):
        if len(c) > 1 and np.allclose(c[0], c[-1]):
            c = c[:-1]
        c = approximate_polygon(c, tolerance=0.0)
        if len(c) > 1 and np.allclose(c[0], c[-1]):
            c = c[:-1]
        if len(c) >= 3:
            out.append(c[:, ::-1] - 1.0)
    return out


def mask_contours(mask: Mask, geometry: Geometry) -> list[tuple[int, np.ndarray]]:
    """(z, (N, 3) LPS points) of every contour of a mask, slice by slice."""
    out: list[tuple[int, np.ndarray]] = []
    if mask.is_empty():
        return out
    z0, y0, x0 = mask.offset
    for dz in range(mask.data.shape[0]):
        plane = mask.data[dz]
        if not plane.any():
            continue
        for c in slice_contours(plane):
            idx = np.column_stack([c[:, 0] + x0, c[:, 1] + y0, np.full(len(c), z0 + dz, dtype=float)])
            out.append((z0 + dz, geometry.index_to_world(idx)))
    return out


def _ds_values(points: np.ndarray) -> list[str]:
    return [f"{v:.4f}".rstrip("0").rstrip(".") or "0" for v in points.reshape(-1)]


def _image_ref(d: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = d.SOPClassUID
    item.ReferencedSOPInstanceUID = d.SOPInstanceUID
    return item


def build_rtstruct(
    reference: Reference, geometry: Geometry, structures: list[ExportStructure], label: str = "lundprobe_gui"
) -> hd.SOPClass:
    """The RT Structure Set dataset (not yet written)."""
    first = reference.first
    now = _dt.datetime.now()
    ds = hd.SOPClass(
        series_instance_uid=hd.UID(),
        series_number=int(first.get("SeriesNumber", 0) or 0) + 900,
        sop_instance_uid=hd.UID(),
        sop_class_uid=RTSTRUCT_UID,
        instance_number=1,
        modality="RTSTRUCT",
        transfer_syntax_uid=ExplicitVRLittleEndian,
        series_description=f"{label} structure set"[:64],
        series_date=now.date(),
        series_time=now.time(),
        **sop_class_kwargs(reference),
    )
    ds.OperatorsName = ""
    ds.StructureSetLabel = label[:16]
    ds.StructureSetName = label[:64]
    ds.StructureSetDate = now.strftime("%Y%m%d")
    ds.StructureSetTime = now.strftime("%H%M%S")
    for_uid = str(first.FrameOfReferenceUID)
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    series = Dataset()
    series.SeriesInstanceUID = first.SeriesInstanceUID
    series.ContourImageSequence = Sequence([_image_ref(d) for _, d in reference.present()])
    study = Dataset()
    study.ReferencedSOPClassUID = STUDY_COMPONENT_UID
    study.ReferencedSOPInstanceUID = first.StudyInstanceUID
    study.RTReferencedSeriesSequence = Sequence([series])
    frame = Dataset()
    frame.FrameOfReferenceUID = for_uid
    frame.RTReferencedStudySequence = Sequence([study])
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame])
    rois, contours, observations = [], [], []
    for number, st in enumerate(structures, start=1):
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = for_uid
        roi.ROIName = st.name[:64]
        roi.ROIGenerationAlgorithm = st.algorithm
        rois.append(roi)
        rc = Dataset()
        rc.ROIDisplayColor = [int(v) for v in st.colour]
        rc.ReferencedROINumber = number
        items = []
        for n, (z, pts) in enumerate(mask_contours(st.mask, geometry), start=1):
            c = Dataset()
            img = reference.slices[z] if 0 <= z < len(reference.slices) else None
            if img is not None:
                c.ContourImageSequence = Sequence([_image_ref(img)])
            c.ContourNumber = n
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = len(pts)
            c.ContourData = _ds_values(pts)
            items.append(c)
        if items:
            rc.ContourSequence = Sequence(items)
        contours.append(rc)
        obs = Dataset()
        obs.ObservationNumber = number
        obs.ReferencedROINumber = number
        obs.RTROIInterpretedType = ""
        obs.ROIInterpreter = ""
        observations.append(obs)
    ds.StructureSetROISequence = Sequence(rois)
    ds.ROIContourSequence = Sequence(contours)
    ds.RTROIObservationsSequence = Sequence(observations)
    return ds
