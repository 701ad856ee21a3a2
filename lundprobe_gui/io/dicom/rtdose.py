"""RT Dose: its grid from the header, its voxels scaled to Gy, and a label that says what it is."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import iter_pixels

from ...core.geometry import Geometry, floats3
from ...core.patient import Problem
from .scan import DicomFile
from .series import SPACING_TOLERANCE, _vec

logger = logging.getLogger(__name__)


@dataclass
class DoseInfo:
    """What the header of one RTDOSE file says.

    Attributes
    ----------
    order : list of int
        Stored frame index of each grid slice, lowest position first.
    scaling : float
        DoseGridScaling (1.0 when absent, with a problem).
    """

    file: DicomFile
    geometry: Geometry
    order: list[int]
    scaling: float
    units: str
    summation: str
    beams: tuple[int, ...]
    frame_of_reference: str
    plan_uid: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``dose``, ``dose beam 2``, ``dose fraction 1`` ... (the key in ``Frame.doses``)."""
        s = self.summation.upper()
        if s == "BEAM" and self.beams:
            return "dose beam " + "+".join(str(b) for b in self.beams)
        if s in ("", "PLAN", "MULTI_PLAN", "RECORD"):
            return "dose" if s in ("", "PLAN") else f"dose {s.lower()}"
        return f"dose {s.lower().replace('_', ' ')}"

    def description(self) -> str:
        """One line for the layer list and ``info``."""
        n = self.geometry.size_xyz[2]
        return f"RTDOSE {self.summation or 'PLAN'} ({n} frame{'s' if n != 1 else ''}, {self.units or 'GY'})"


def read_dose_info(f: DicomFile) -> DoseInfo | Problem:
    """The grid and scaling of an RTDOSE file, or the problem that stops its use."""
    ds, p = f.ds, str(f.path)
    if "PixelData" not in ds:
        return Problem(p, "no-pixel-data", "RTDOSE without a dose grid (no pixel data); left out")
    iop = _vec(ds, "ImageOrientationPatient", 6)
    ipp = _vec(ds, "ImagePositionPatient", 3)
    ps = _vec(ds, "PixelSpacing", 2)
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if iop is None or ipp is None or ps is None or not rows or not cols:
        return Problem(
            p, "invalid-geometry", "RTDOSE without a usable position, orientation, spacing or size; left out"
        )
    nframes = int(ds.get("NumberOfFrames", 1) or 1)
    problems: list[Problem] = []
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    offsets = ds.get("GridFrameOffsetVector")
    try:
        offs = np.asarray([float(v) for v in offsets], dtype=float) if offsets is not None else np.zeros(1)
    except (TypeError, ValueError):
        return Problem(p, "invalid-geometry", "RTDOSE GridFrameOffsetVector is not a list of numbers; left out")
    if len(offs) != nframes:
        return Problem(p, "invalid-geometry", f"RTDOSE has {nframes} frames but {len(offs)} frame offsets; left out")
    if offs[0] != 0:  # absolute positions along the normal (allowed for axial grids)
        offs = offs - float(np.dot(ipp, normal))
    order = list(np.argsort(offs, kind="stable"))
    z = offs[order]
    diffs = np.diff(z)
    spacing = float(np.median(diffs)) if len(diffs) else float(ds.get("SliceThickness") or 1.0) or 1.0
    if len(diffs) and (np.any(diffs <= 1e-6) or np.any(np.abs(diffs - spacing) > SPACING_TOLERANCE * spacing)):
        problems.append(
            Problem(
                p,
                "uneven-spacing",
                "RTDOSE frames are unevenly spaced; each is shown at the nearest plane of a regular grid",
            )
        )
    origin = ipp + normal * z[0]
    geom = Geometry(
        (cols, rows, nframes),
        (float(ps[1]), float(ps[0]), spacing if spacing > 0 else 1.0),
        floats3(origin),
        tuple(float(v) for v in np.column_stack([row_dir, col_dir, normal]).reshape(-1)),
    )
    why = geom.is_valid()
    if why:
        return Problem(p, "invalid-geometry", f"RTDOSE: {why}")
    scaling = _valid_scaling(ds.get("DoseGridScaling"))
    if scaling is None:
        problems.append(
            Problem(
                p,
                "no-dose-scaling",
                "RTDOSE has no valid DoseGridScaling; its stored values are taken as Gy only if plausible, "
                "else not shown as Gy until a scale is confirmed (View > Dose scale)",
            )
        )
        scaling = 1.0
    units = str(ds.get("DoseUnits", "") or "").upper()
    if units and units != "GY":
        problems.append(
            Problem(p, "dose-units", f"RTDOSE dose units are {units}, not GY; values are shown as they are")
        )
    beams: list[int] = []
    plan_uid = ""
    for rp in ds.get("ReferencedRTPlanSequence", []) or []:
        plan_uid = plan_uid or str(rp.get("ReferencedSOPInstanceUID", "") or "")
        for fg in rp.get("ReferencedFractionGroupSequence", []) or []:
            for b in fg.get("ReferencedBeamSequence", []) or []:
                with contextlib.suppress(AttributeError, TypeError, ValueError):
                    beams.append(int(b.ReferencedBeamNumber))
    return DoseInfo(
        f,
        geom,
        [int(i) for i in order],
        scaling,
        units,
        str(ds.get("DoseSummationType", "") or "").upper(),
        tuple(beams),
        f.uid("FrameOfReferenceUID"),
        plan_uid,
        problems,
    )


def _valid_scaling(value: object) -> float | None:
    try:
        scaling = float(value) if value is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return scaling if scaling is not None and np.isfinite(scaling) and scaling > 0 else None


def value_range(path: Path) -> tuple[float, float, bool] | None:
    """The (min, max) dose of an RTDOSE file, read one frame at a time, and whether it lacks DoseGridScaling.

    For ``info``, which decodes nothing else: the header is read without its pixels, then the frames are
    decoded one by one, so memory stays at one frame whatever the grid. ``None`` for a file that is not an
    RTDOSE.

    Raises
    ------
    ValueError
        When the pixel data cannot be decoded.
    """
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - not a DICOM file (or not one pydicom can read): not an RTDOSE
        return None
    if str(ds.get("Modality", "")).upper() != "RTDOSE":
        return None
    scaling = _valid_scaling(ds.get("DoseGridScaling"))
    lo, hi = np.inf, -np.inf
    try:
        for frame in iter_pixels(path):
            lo, hi = min(lo, float(frame.min())), max(hi, float(frame.max()))
    except Exception as e:
        raise ValueError(f"cannot decode the RTDOSE pixel data: {e}") from e
    if not np.isfinite(lo):
        lo = hi = 0.0
    s = scaling or 1.0
    return lo * s, hi * s, scaling is None


def load_dose(info: DoseInfo) -> np.ndarray:
    """The (z, y, x) dose in Gy (float32), frames in grid order."""
    ds = pydicom.dcmread(info.file.path)
    arr = ds.pixel_array
    if arr.ndim == 2:
        arr = arr[None]
    if arr.shape != info.geometry.shape_zyx:
        raise ValueError(f"dose pixel array {arr.shape} does not match the grid {info.geometry.shape_zyx}")
    return np.ascontiguousarray(arr[info.order], dtype=np.float32) * np.float32(info.scaling)
