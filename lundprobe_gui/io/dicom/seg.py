"""DICOM Segmentation objects (read through highdicom): one structure per segment.

Segment labels and display colours are kept. A fractional segmentation is thresholded at 0.5
(with a note). The segmentation's frames are placed on the grid of the series it references by
their patient positions, so a SEG that omits empty frames, or covers only part of the series,
lands where it belongs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...core.geometry import Geometry
from ...core.mask import Mask
from ...core.patient import Problem
from .scan import DicomFile

if TYPE_CHECKING:
    import highdicom as hd

logger = logging.getLogger(__name__)

FRACTIONAL_THRESHOLD = 0.5


@dataclass(frozen=True)
class SegmentInfo:
    """One segment as the header describes it."""

    number: int
    label: str
    colour: tuple[int, int, int] | None


@dataclass(frozen=True)
class SegInfo:
    """The header of one DICOM-SEG file."""

    path: Path
    description: str
    frame_of_reference: str
    referenced_series: str
    referenced_instances: frozenset[str]
    fractional: bool
    segments: tuple[SegmentInfo, ...]


def _rgb(item) -> tuple[int, int, int] | None:
    value = item.get("RecommendedDisplayCIELabValue")
    if value is None:
        return None
    import highdicom as hd  # imported on use: it takes longer to import than a whole series takes to scan

    try:
        rgb = hd.color.CIELabColor.from_dicom_value(tuple(int(v) for v in value)).to_rgb()
    except Exception:  # noqa: BLE001 - a malformed colour must not stop the segment
        return None
    return tuple(int(v) for v in rgb)  # type: ignore[return-value]


def read_seg_info(f: DicomFile) -> SegInfo:
    """Segments, referenced series and type of a DICOM-SEG (header only)."""
    ds = f.ds
    series, instances = "", set()
    for se in ds.get("ReferencedSeriesSequence", []) or []:
        series = series or str(se.get("SeriesInstanceUID", "") or "")
        for inst in se.get("ReferencedInstanceSequence", []) or []:
            instances.add(str(inst.get("ReferencedSOPInstanceUID", "") or ""))
    segs = []
    for item in ds.get("SegmentSequence", []) or []:
        try:
            num = int(item.SegmentNumber)
        except (AttributeError, TypeError, ValueError):
            continue
        label = str(item.get("SegmentLabel", "") or "").strip() or f"segment {num}"
        segs.append(SegmentInfo(num, label, _rgb(item)))
    desc = str(ds.get("SeriesDescription", "") or ds.get("ContentLabel", "") or "").strip()
    fractional = str(ds.get("SegmentationType", "") or "").upper() == "FRACTIONAL"
    return SegInfo(
        f.path, desc, f.uid("FrameOfReferenceUID"), series, frozenset(instances - {""}), fractional, tuple(segs)
    )


def read_seg(path: Path):
    """The whole segmentation (a ``highdicom.seg.Segmentation``, pixels included)."""
    import highdicom as hd

    return hd.seg.segread(str(path))


def segment_mask(
    seg: hd.seg.Segmentation, number: int, geometry: Geometry, path: str, name: str
) -> tuple[Mask, list[Problem]]:
    """One segment on ``geometry``: the segmentation's volume, each voxel placed by its patient position."""
    problems: list[Problem] = []
    try:
        vol = seg.get_volume(segment_numbers=[number], combine_segments=False, rescale_fractional=True)
    except Exception as e:  # highdicom refuses irregular frame layouts with several exception types
        raise ValueError(f"segment {number} cannot be arranged as a volume: {e}") from e
    arr = np.asarray(vol.array)
    if arr.ndim == 4:
        arr = arr[..., 0]
    fractional = str(seg.get("SegmentationType", "")).upper() == "FRACTIONAL"
    inside = arr >= FRACTIONAL_THRESHOLD if fractional else arr > 0
    if fractional:
        problems.append(
            Problem(path, "fractional", f"{name}: fractional segmentation thresholded at {FRACTIONAL_THRESHOLD:g}")
        )
    shape = geometry.shape_zyx
    pts = np.argwhere(inside)
    if pts.size == 0:
        return Mask(shape), problems
    world = pts @ vol.affine[:3, :3].T + vol.affine[:3, 3]
    idx = np.rint(geometry.world_to_index(world)).astype(int)  # (x, y, z)
    ok = np.all((idx >= 0) & (idx < np.asarray(geometry.size_xyz)), axis=1)
    if not np.all(ok):
        problems.append(
            Problem(path, "outside", f"{name}: {int((~ok).sum())} voxel(s) lie outside the image; left out")
        )
    idx = idx[ok]
    if idx.size == 0:
        return Mask(shape), problems
    lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
    block = np.zeros((hi[2] - lo[2], hi[1] - lo[1], hi[0] - lo[0]), dtype=bool)
    block[idx[:, 2] - lo[2], idx[:, 1] - lo[1], idx[:, 0] - lo[0]] = True
    return Mask(shape, block, (int(lo[2]), int(lo[1]), int(lo[0]))), problems
