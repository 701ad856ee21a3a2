"""RT Structure Sets: the ROI list from the header, and planar contours rasterised onto an image grid.

Rasterisation follows the voxel-centre rule: a voxel is inside when its centre lies inside the
contour polygon on its slice plane. All closed contours of one ROI on one plane are combined by
the even-odd rule, so a contour nested inside another is a hole (and one inside that an island),
as dicompyler-core and SlicerRT do. Contours that are not on a slice plane of the grid, or lie
outside it, are counted and reported, never moved.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from ...core.geometry import Geometry
from ...core.mask import Mask
from ...core.patient import Problem
from .scan import DicomFile

logger = logging.getLogger(__name__)

PLANE_TOLERANCE = 0.25
"""Largest distance of a contour from the nearest slice plane, in slice spacings."""


@dataclass(frozen=True)
class RoiInfo:
    """One ROI of a structure set as the header lists it."""

    number: int
    name: str
    colour: tuple[int, int, int] | None
    n_contours: int


@dataclass(frozen=True)
class StructureSet:
    """The header of one RTSTRUCT file."""

    path: Path
    label: str
    frame_of_reference: str
    referenced_series: str
    referenced_instances: frozenset[str]
    rois: tuple[RoiInfo, ...]


def _colour(item) -> tuple[int, int, int] | None:
    try:
        rgb = tuple(int(v) for v in item.get("ROIDisplayColor"))
    except (TypeError, ValueError):
        return None
    return rgb if len(rgb) == 3 and all(0 <= v <= 255 for v in rgb) else None


def read_structure_set(f: DicomFile) -> StructureSet:
    """The ROI list, referenced series and frame of reference of a structure set (header only)."""
    ds = f.ds
    series, instances, for_uid = "", set(), ""
    for fr in ds.get("ReferencedFrameOfReferenceSequence", []) or []:
        for_uid = for_uid or str(fr.get("FrameOfReferenceUID", "") or "")
        for st in fr.get("RTReferencedStudySequence", []) or []:
            for se in st.get("RTReferencedSeriesSequence", []) or []:
                series = series or str(se.get("SeriesInstanceUID", "") or "")
                for im in se.get("ContourImageSequence", []) or []:
                    instances.add(str(im.get("ReferencedSOPInstanceUID", "")))
    contours = {}
    for item in ds.get("ROIContourSequence", []) or []:
        try:
            contours[int(item.ReferencedROINumber)] = item
        except (AttributeError, TypeError, ValueError):
            continue
    rois = []
    for r in ds.get("StructureSetROISequence", []) or []:
        try:
            num = int(r.ROINumber)
        except (AttributeError, TypeError, ValueError):
            continue
        for_uid = for_uid or str(r.get("ReferencedFrameOfReferenceUID", "") or "")
        item = contours.get(num)
        n = len(item.get("ContourSequence", []) or []) if item is not None else 0
        name = str(r.get("ROIName", "") or "").strip() or f"ROI {num}"
        rois.append(RoiInfo(num, name, _colour(item) if item is not None else None, n))
    label = str(ds.get("StructureSetLabel", "") or "").strip()
    return StructureSet(f.path, label, for_uid, series, frozenset(instances - {""}), tuple(rois))


def contour_points(contour) -> np.ndarray:
    """The (N, 3) LPS points of one contour item, parsed straight from the raw value (fast for long contours)."""
    raw = contour.get_item("ContourData")
    if raw is None:
        return np.zeros((0, 3))
    value = raw.value
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).replace(b"\x00", b"").strip()
        pts = np.array(text.split(b"\\"), dtype=float) if text else np.zeros(0)
    else:
        pts = np.asarray([float(v) for v in (value if isinstance(value, (list, tuple)) else [value])])
    if pts.size % 3:
        raise ValueError(f"ContourData holds {pts.size} numbers, not a multiple of 3")
    return pts.reshape(-1, 3)


def roi_contours(ds, number: int) -> list[tuple[str, np.ndarray]]:
    """(ContourGeometricType, points) of every contour of one ROI."""
    for item in ds.get("ROIContourSequence", []) or []:
        if int(item.get("ReferencedROINumber", -1)) == number:
            return [
                (str(c.get("ContourGeometricType", "CLOSED_PLANAR") or "CLOSED_PLANAR").upper(), contour_points(c))
                for c in item.get("ContourSequence", []) or []
            ]
    return []


def rasterise(
    contours: list[tuple[str, np.ndarray]], geometry: Geometry, path: str, name: str
) -> tuple[Mask, list[Problem]]:
    """Rasterise closed planar contours onto ``geometry`` (voxel-centre rule, even-odd holes)."""
    shape = geometry.shape_zyx
    planes: dict[int, list[np.ndarray]] = {}
    off_plane = outside = skipped = 0
    for kind, pts in contours:
        if kind != "CLOSED_PLANAR" or len(pts) < 3:
            skipped += 1
            continue
        idx = geometry.world_to_index(pts)
        k = float(np.median(idx[:, 2]))
        kk = round(k)
        if np.max(np.abs(idx[:, 2] - k)) > PLANE_TOLERANCE or abs(k - kk) > PLANE_TOLERANCE:
            off_plane += 1
            continue
        if not 0 <= kk < shape[0]:
            outside += 1
            continue
        planes.setdefault(kk, []).append(idx[:, :2])
    problems = []
    if skipped:
        problems.append(
            Problem(
                path, "contours-skipped", f"{name}: {skipped} contour(s) that are not closed planar polygons left out"
            )
        )
    if off_plane:
        problems.append(
            Problem(
                path,
                "contours-off-plane",
                f"{name}: {off_plane} contour(s) do not lie on a slice plane of the image; left out",
            )
        )
    if outside:
        problems.append(
            Problem(path, "contours-outside", f"{name}: {outside} contour(s) lie outside the image; left out")
        )
    if not planes:
        return Mask(shape), problems
    allpts = np.concatenate([p for ps in planes.values() for p in ps])
    x0 = max(0, int(np.floor(allpts[:, 0].min())))
    x1 = min(shape[2], int(np.ceil(allpts[:, 0].max())) + 1)
    y0 = max(0, int(np.floor(allpts[:, 1].min())))
    y1 = min(shape[1], int(np.ceil(allpts[:, 1].max())) + 1)
    z0, z1 = min(planes), max(planes) + 1
    if x0 >= x1 or y0 >= y1:
        return Mask(shape), problems
    block = np.zeros((z1 - z0, y1 - y0, x1 - x0), dtype=bool)
    for k, polys in planes.items():
        block[k - z0] = fill_even_odd([p - (x0, y0) for p in polys], block.shape[1:])
    mask = Mask(shape, block, (z0, y0, x0))
    mask.compact()
    return mask, problems


def fill_even_odd(polygons: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Voxels of a (rows, columns) plane whose centres lie inside ``polygons`` by the even-odd rule.

    Polygons are (N, 2) arrays of continuous (column, row) indices, voxel centres at whole numbers.
    A scanline fill over all edges of all polygons at once: a centre is inside when an odd number
    of edge crossings of its row lie to its left, so nested polygons make holes.
    """
    rows, cols = shape
    out = np.zeros(shape, dtype=bool)
    edges = [np.concatenate([p, np.roll(p, -1, axis=0)], axis=1) for p in polygons if len(p) >= 3]
    if not edges:
        return out
    e = np.concatenate(edges)
    xa, ya, xb, yb = e[:, 0], e[:, 1], e[:, 2], e[:, 3]
    lo, hi = np.minimum(ya, yb), np.maximum(ya, yb)
    first = np.ceil(lo).astype(np.int64)  # rows r with lo <= r < hi: a vertex is counted once
    last = np.ceil(hi).astype(np.int64)
    first, last = np.clip(first, 0, rows), np.clip(last, 0, rows)
    n = np.maximum(last - first, 0)
    if not n.sum():
        return out
    idx = np.repeat(np.arange(len(e)), n)
    r = np.repeat(first, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    t = (r - ya[idx]) / (yb[idx] - ya[idx])
    x = xa[idx] + t * (xb[idx] - xa[idx])
    order = np.lexsort((x, r))
    r, x = r[order], x[order]
    # crossings pair up within each row (closed polygons cross every row an even number of times)
    start = np.floor(x[0::2]).astype(np.int64) + 1
    stop = np.floor(x[1::2]).astype(np.int64) + 1
    row = r[0::2]
    start, stop = np.clip(start, 0, cols), np.clip(stop, 0, cols)
    keep = stop > start
    diff = np.zeros((rows, cols + 1), dtype=np.int32)
    np.add.at(diff, (row[keep], start[keep]), 1)
    np.add.at(diff, (row[keep], stop[keep]), -1)
    return np.cumsum(diff[:, :cols], axis=1) > 0


def read_full(path: Path):
    """The whole structure set with its contour points (read on demand, not at discovery).

    The ROI items are decoded here, once: pydicom decodes an element on first access, and ROIs are
    rasterised on several threads, each then touching only its own ROI's items.
    """
    ds = pydicom.dcmread(path)
    for item in ds.get("ROIContourSequence", []) or []:
        item.get("ReferencedROINumber")
    return ds
