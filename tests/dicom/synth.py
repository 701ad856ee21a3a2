"""Synthetic DICOM-RT written by libraries, for the edge cases: SimpleITK writes image series, pydicom
builds structure sets and doses."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from lundprobe_gui.io.dicom.series import kept_locale

CT_UID = "1.2.840.10008.5.1.4.1.1.2"
RTSTRUCT_UID = "1.2.840.10008.5.1.4.1.1.481.3"
RTDOSE_UID = "1.2.840.10008.5.1.4.1.1.481.2"


def write_series(
    folder: Path,
    array: np.ndarray,
    spacing=(1.0, 1.0, 2.0),
    origin=(0.0, 0.0, 0.0),
    direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
    modality: str = "CT",
    skip: tuple[int, ...] = (),
    z_positions: list[float] | None = None,
    study: str | None = None,
    for_uid: str | None = None,
    series: str | None = None,
    names: str = "slice{k:03d}.dcm",
) -> list[Path]:
    """Write a (z, y, x) int16 array as a DICOM series with SimpleITK, one file per slice.

    ``z_positions`` replaces each slice's distance along the normal (uneven spacing); ``skip`` leaves slices out.
    """
    folder.mkdir(parents=True, exist_ok=True)
    img = sitk.GetImageFromArray(array.astype(np.int16))
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    img.SetDirection([float(v) for v in direction])
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    study, for_uid, series = study or generate_uid(), for_uid or generate_uid(), series or generate_uid()
    common = {
        "0008|0060": modality,
        "0020|000d": study,
        "0020|000e": series,
        "0020|0052": for_uid,
        "0010|0020": "SYNTH01",
        "0010|0010": "Synthetic^Patient",
        "0008|103e": f"synthetic {modality}",
        "0020|0037": "\\".join(f"{v:.6f}" for v in (*d[:, 0], *d[:, 1])),
        "0028|1052": "0",
        "0028|1053": "1",
        "0018|0050": f"{spacing[2]:g}",
    }
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    out = []
    for k in range(array.shape[0]):
        if k in skip:
            continue
        sl = img[:, :, k]
        dist = k * spacing[2] if z_positions is None else z_positions[k]
        pos = np.asarray(origin) + d[:, 2] * dist
        for tag, value in common.items():
            sl.SetMetaData(tag, value)
        sl.SetMetaData("0008|0016", CT_UID if modality == "CT" else "1.2.840.10008.5.1.4.1.1.4")
        sl.SetMetaData("0008|0018", generate_uid())
        sl.SetMetaData("0020|0032", "\\".join(f"{v:.6f}" for v in pos))
        sl.SetMetaData("0020|0013", str(array.shape[0] - k))  # instance numbers run against the position
        path = folder / names.format(k=k)
        writer.SetFileName(str(path))
        with kept_locale():
            writer.Execute(sl)
        out.append(path)
    return out


def _meta(sop_class: str, sop_uid: str) -> FileMetaDataset:
    m = FileMetaDataset()
    m.MediaStorageSOPClassUID = sop_class
    m.MediaStorageSOPInstanceUID = sop_uid
    m.TransferSyntaxUID = ExplicitVRLittleEndian
    return m


def _base(sop_class: str, modality: str, ref: Dataset) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta = _meta(sop_class, ds.SOPInstanceUID)
    ds.Modality = modality
    for kw in ("PatientID", "PatientName", "StudyInstanceUID", "FrameOfReferenceUID"):
        setattr(ds, kw, ref.get(kw, ""))
    ds.SeriesInstanceUID = generate_uid()
    return ds


def make_rtstruct(
    path: Path, series_files: list[Path], rois: list[tuple[str, list[np.ndarray]]], series_uid: str | None = None
) -> Path:
    """A structure set over a series: ``rois`` is a list of (name, [(N, 3) LPS contour, ...])."""
    ref = pydicom.dcmread(series_files[0], stop_before_pixels=True)
    ds = _base(RTSTRUCT_UID, "RTSTRUCT", ref)
    ds.StructureSetLabel = "synthetic"
    fr = Dataset()
    fr.FrameOfReferenceUID = ref.FrameOfReferenceUID
    st = Dataset()
    st.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    st.ReferencedSOPInstanceUID = ref.StudyInstanceUID
    se = Dataset()
    se.SeriesInstanceUID = series_uid or ref.SeriesInstanceUID
    st.RTReferencedSeriesSequence = Sequence([se])
    fr.RTReferencedStudySequence = Sequence([st])
    ds.ReferencedFrameOfReferenceSequence = Sequence([fr])
    ssroi, roic = [], []
    for n, (name, contours) in enumerate(rois, start=1):
        r = Dataset()
        r.ROINumber = n
        r.ROIName = name
        r.ReferencedFrameOfReferenceUID = ref.FrameOfReferenceUID
        ssroi.append(r)
        c = Dataset()
        c.ReferencedROINumber = n
        c.ROIDisplayColor = [255, 0, 10 * n]
        items = []
        for pts in contours:
            it = Dataset()
            it.ContourGeometricType = "CLOSED_PLANAR"
            it.NumberOfContourPoints = len(pts)
            it.ContourData = [f"{v:.4f}" for v in np.asarray(pts).reshape(-1)]
            items.append(it)
        if items:
            c.ContourSequence = Sequence(items)
        roic.append(c)
    ds.StructureSetROISequence = Sequence(ssroi)
    ds.ROIContourSequence = Sequence(roic)
    ds.save_as(path, enforce_file_format=True)
    return path


def make_dose(
    path: Path,
    ref_file: Path,
    dose_gy: np.ndarray,
    origin,
    spacing=(2.0, 2.0, 2.0),
    scaling: float | None = 1e-3,
    summation: str = "PLAN",
    beam: int | None = None,
) -> Path:
    """An axial RTDOSE of (z, y, x) Gy values (stored as uint32 / scaling) sharing the series' frame of reference."""
    ref = pydicom.dcmread(ref_file, stop_before_pixels=True)
    ds = _base(RTDOSE_UID, "RTDOSE", ref)
    z, y, x = dose_gy.shape
    ds.ImagePositionPatient = [f"{v:g}" for v in origin]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [spacing[1], spacing[0]]
    ds.GridFrameOffsetVector = [f"{k * spacing[2]:g}" for k in range(z)]
    ds.NumberOfFrames = z
    ds.FrameIncrementPointer = pydicom.tag.Tag("GridFrameOffsetVector")
    ds.Rows, ds.Columns = y, x
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelRepresentation = 0
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = summation
    if scaling is not None:
        ds.DoseGridScaling = f"{scaling:g}"
    stored = np.rint(dose_gy / (scaling or 1.0)).astype(np.uint32)
    if beam is not None:
        b = Dataset()
        b.ReferencedBeamNumber = beam
        fg = Dataset()
        fg.ReferencedBeamSequence = Sequence([b])
        rp = Dataset()
        rp.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.5"
        rp.ReferencedSOPInstanceUID = generate_uid()
        rp.ReferencedFractionGroupSequence = Sequence([fg])
        ds.ReferencedRTPlanSequence = Sequence([rp])
    ds.PixelData = stored.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def square(cx: float, cy: float, half: float, z: float) -> np.ndarray:
    """An axial square contour (LPS mm) centred on (cx, cy) at height z."""
    return np.array(
        [[cx - half, cy - half, z], [cx + half, cy - half, z], [cx + half, cy + half, z], [cx - half, cy + half, z]]
    )


def _seg(files: list[Path], out: Path) -> np.ndarray:
    src = [pydicom.dcmread(f) for f in files]
    z, y, x = len(src), int(src[0].Rows), int(src[0].Columns)
    px = np.zeros((z, y, x, 2), dtype=bool)
    px[2:5, 10:20, 10:20, 0] = True
    px[3:6, 22:28, 5:15, 1] = True
    algo = hd.AlgorithmIdentificationSequence("nnU-Net", codes.cid7162.ArtificialIntelligence, "2")
    descs = [
        hd.seg.SegmentDescription(
            i + 1,
            name,
            codes.SCT.Organ,
            codes.SCT.Organ,
            hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algo,
            display_color=hd.color.CIELabColor.from_rgb(*rgb),
        )
        for i, (name, rgb) in enumerate([("Liver", (200, 80, 40)), ("Kidney", (40, 80, 200))])
    ]
    seg = hd.seg.Segmentation(
        src,
        px,
        hd.seg.SegmentationTypeValues.BINARY,
        descs,
        hd.UID(),
        300,
        hd.UID(),
        1,
        "BAMF",
        "nnU-Net",
        "2",
        "1",
        series_description="AI segmentation",
    )
    seg.save_as(out)
    return px


def write_collection(root: Path) -> dict[str, np.ndarray]:
    """A collection laid out as the published AI-review ones: two CT series under ``images/`` and one
    two-segment AI DICOM-SEG (Liver, Kidney) per series in ``ai-segmentations-dcm/``; returns the
    segment masks (z, y, x, segment) by PatientID."""
    masks = {}
    (root / "ai-segmentations-dcm").mkdir(parents=True)
    for i, pid in enumerate(("P001", "P002")):
        vol = (np.arange(8 * 32 * 32).reshape(8, 32, 32) % 500).astype(np.int16)
        files = write_series(root / "images" / pid / "ct", vol, spacing=(1.0, 1.0, 2.5), origin=(0, 0, 10 * i))
        for f in files:
            ds = pydicom.dcmread(f)
            ds.PatientID = pid
            ds.save_as(f)
        series = pydicom.dcmread(files[0]).SeriesInstanceUID
        masks[pid] = _seg(files, root / "ai-segmentations-dcm" / f"{series}.dcm")
    (root / "README.txt").write_text("collection notes")
    return masks
