"""Image series: slices sorted along the slice normal onto a regular grid, and their pixels.

The grid of a series comes from its headers only:

* the in-plane axes are the ``ImageOrientationPatient`` row and column directions, the third axis
  the slice normal (row x column), so any orientation (axial, sagittal, coronal, oblique) keeps
  its true geometry;
* slices are sorted by their position along that normal (never by file name or instance number)
  and the slice spacing is the median distance between neighbours;
* every slice goes to the grid index its own position gives, so a missing slice leaves a blank
  plane and never shifts the slices after it. Gaps, uneven spacing, duplicate positions and
  slices of another orientation or size are problems naming the series.
"""

from __future__ import annotations

import contextlib
import locale
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom

from ...core.geometry import Geometry, floats3
from ...core.memory import check_fits
from ...core.patient import Problem
from .scan import DicomFile

logger = logging.getLogger(__name__)

SPACING_TOLERANCE = 0.1
"""Largest deviation of a slice from its grid position, as a fraction of the slice spacing."""


@dataclass
class Series:
    """One image series on its grid.

    Attributes
    ----------
    slots : list
        Per grid slice index (z), the file of that slice, or None where a slice is missing.
    """

    uid: str
    modality: str
    description: str
    geometry: Geometry
    slots: list[DicomFile | None]
    frame_of_reference: str
    study_uid: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def files(self) -> list[DicomFile]:
        """The slices present, in grid order."""
        return [f for f in self.slots if f is not None]

    @property
    def first_path(self) -> Path:
        """The file of the lowest slice present (names the series in messages)."""
        return self.files[0].path

    def sop_uids(self) -> list[str | None]:
        """SOP Instance UID per grid slice (None where missing)."""
        return [None if f is None else f.uid("SOPInstanceUID") for f in self.slots]

    def label(self) -> str:
        """``CT series 3 "Head" (1.2.3...)`` for messages."""
        num = self.files[0].ds.get("SeriesNumber", "")
        desc = f' "{self.description}"' if self.description else ""
        return f"{self.modality} series {num}{desc} ({self.uid})".replace("  ", " ")


def _vec(ds, keyword: str, n: int) -> np.ndarray | None:
    try:
        v = np.asarray([float(x) for x in ds.get(keyword)], dtype=float)
    except (TypeError, ValueError):
        return None
    return v if v.shape == (n,) and np.all(np.isfinite(v)) else None


def _position(f: DicomFile) -> np.ndarray:
    """ImagePositionPatient of a slice that :func:`_plane_key` accepted (so it has a valid one)."""
    pos = _vec(f.ds, "ImagePositionPatient", 3)
    if pos is None:
        raise ValueError(f"{f.path.name}: no valid ImagePositionPatient")
    return pos


def _plane_key(f: DicomFile) -> tuple | None:
    """What every slice of a regular series shares: orientation, size and pixel spacing."""
    iop = _vec(f.ds, "ImageOrientationPatient", 6)
    ps = _vec(f.ds, "PixelSpacing", 2)
    rows, cols = f.ds.get("Rows"), f.ds.get("Columns")
    if iop is None or ps is None or not rows or not cols or _vec(f.ds, "ImagePositionPatient", 3) is None:
        return None
    return (tuple(np.round(iop, 4)), tuple(np.round(ps, 5)), int(rows), int(cols))


def build_series(uid: str, files: list[DicomFile]) -> Series | Problem:
    """Sort the slices of one series onto a grid; a :class:`Problem` when the series cannot be shown."""
    first = files[0]
    modality = first.modality or "image"
    desc = str(first.ds.get("SeriesDescription", "") or "").strip()
    name = f"{modality} series {uid}"
    with_pixels = [f for f in files if "PixelData" in f.ds or "FloatPixelData" in f.ds]
    if not with_pixels:
        return Problem(str(first.path), "no-pixel-data", f"{name}: none of its {len(files)} file(s) holds pixel data")
    problems: list[Problem] = []
    if len(with_pixels) < len(files):
        problems.append(
            Problem(
                str(first.path),
                "no-pixel-data",
                f"{name}: {len(files) - len(with_pixels)} file(s) without pixel data left out",
            )
        )
    multi = [f for f in with_pixels if int(f.ds.get("NumberOfFrames", 1) or 1) > 1]
    if multi:
        return Problem(
            str(multi[0].path),
            "unsupported",
            f"{name}: multi-frame (enhanced) images are not supported; series left out",
        )
    keys = {id(f): _plane_key(f) for f in with_pixels}
    votes = Counter(k for k in keys.values() if k is not None)
    if not votes:
        return Problem(
            str(first.path), "invalid-geometry", f"{name}: no slice has a usable position, orientation and size"
        )
    key = votes.most_common(1)[0][0]
    used = [f for f in with_pixels if keys[id(f)] == key]
    if len(used) < len(with_pixels):
        problems.append(
            Problem(
                str(first.path),
                "mixed-orientation",
                f"{name}: {len(with_pixels) - len(used)} slice(s) differ in orientation, size or pixel spacing "
                f"from the other {len(used)}; left out",
            )
        )
    _, _, rows, cols = key
    # the key is rounded to group slices; the grid takes the exact values of a slice of the group
    iop, ps = _vec(used[0].ds, "ImageOrientationPatient", 6), _vec(used[0].ds, "PixelSpacing", 2)
    if iop is None or ps is None:  # _plane_key accepted the slice, so both are valid
        raise ValueError(f"{used[0].path.name}: no valid ImageOrientationPatient or PixelSpacing")
    row_dir, col_dir = np.asarray(iop[:3]), np.asarray(iop[3:])
    normal = np.cross(row_dir, col_dir)
    if not 0.9 < np.linalg.norm(normal) < 1.1:
        return Problem(str(first.path), "invalid-geometry", f"{name}: ImageOrientationPatient is not orthonormal")
    normal = normal / np.linalg.norm(normal)
    pos = {id(f): float(np.dot(_position(f), normal)) for f in used}
    used.sort(key=lambda f: pos[id(f)])
    d = np.array([pos[id(f)] for f in used])
    diffs = np.diff(d)
    dup = int(np.sum(diffs < 1e-3))
    spacing = (
        float(np.median(diffs[diffs >= 1e-3]))
        if np.any(diffs >= 1e-3)
        else float(first.ds.get("SliceThickness") or 1.0)
    )
    if not spacing > 0:
        spacing = 1.0
    index = np.rint((d - d[0]) / spacing).astype(int)
    off = np.abs((d - d[0]) / spacing - index)
    n = int(index[-1]) + 1 if len(index) else 1
    slots: list[DicomFile | None] = [None] * n
    for f, k in zip(used, index):
        if slots[k] is None:
            slots[k] = f
    if dup:
        problems.append(
            Problem(str(first.path), "duplicate-slices", f"{name}: {dup} slice(s) at an already used position left out")
        )
    if np.any(off > SPACING_TOLERANCE):
        problems.append(
            Problem(
                str(first.path),
                "uneven-spacing",
                f"{name}: slices are unevenly spaced (steps {_steps(diffs)} mm); each is shown at the nearest "
                f"plane of a {spacing:.4g} mm grid",
            )
        )
    missing = [k for k, s in enumerate(slots) if s is None]
    if missing:
        problems.append(
            Problem(
                str(first.path),
                "missing-slices",
                f"{name}: {len(missing)} slice(s) missing (grid planes {_ranges(missing)} of {n}); shown blank, "
                "the other slices stay at their true positions",
            )
        )
    origin = _position(used[0])
    direction = np.column_stack([row_dir, col_dir, normal])
    geom = Geometry(
        (cols, rows, n),
        (float(ps[1]), float(ps[0]), spacing),
        floats3(origin),
        tuple(float(v) for v in direction.reshape(-1)),
    )
    why = geom.is_valid()
    if why:
        return Problem(str(first.path), "invalid-geometry", f"{name}: {why}")
    return Series(
        uid, modality, desc, geom, slots, used[0].uid("FrameOfReferenceUID"), used[0].uid("StudyInstanceUID"), problems
    )


def _steps(diffs: np.ndarray) -> str:
    vals = sorted({round(float(v), 3) for v in diffs if v >= 1e-3})
    return ", ".join(f"{v:g}" for v in vals[:6]) + (" ..." if len(vals) > 6 else "")


def _ranges(idx: list[int]) -> str:
    out: list[str] = []
    start: int | None = idx[0]
    for a, b in zip(idx, [*idx[1:], None]):
        if b != a + 1:
            out.append(str(start) if start == a else f"{start}-{a}")
            start = b
    return ", ".join(out[:5]) + (" ..." if len(out) > 5 else "")


def group_series(images: list[DicomFile]) -> dict[str, list[DicomFile]]:
    """Image files by Series Instance UID, in order of first appearance."""
    out: dict[str, list[DicomFile]] = {}
    for f in images:
        out.setdefault(f.uid("SeriesInstanceUID") or f"no-uid:{f.path.parent}", []).append(f)
    return out


_RAW_SYNTAXES = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})


def _raw_pixels(f: DicomFile) -> np.ndarray | None:
    """Uncompressed little-endian pixels read straight from the offset the header recorded, or None.

    Decoding a whole file again with pydicom costs several ms per slice; the header pass already
    knows where the pixel data starts and how it is laid out.
    """
    ds = f.ds
    ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    elem = ds.get_item("PixelData") if "PixelData" in ds else None
    if ts not in _RAW_SYNTAXES or elem is None:
        return None
    # pixel data within the header pass's defer size stays a RawDataElement: a length and a value_tell
    undefined = getattr(elem, "is_undefined_length", None)
    if undefined is None:
        undefined = getattr(elem, "length", 0) == 0xFFFFFFFF
    tell = getattr(elem, "file_tell", None)
    if tell is None:
        tell = getattr(elem, "value_tell", None)
    if undefined or tell is None:
        return None
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    bits, stored = int(ds.get("BitsAllocated", 0) or 0), int(ds.get("BitsStored", 0) or 0)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1 or bits not in (8, 16, 32) or (signed and stored != bits):
        return None
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    n = rows * cols * dtype.itemsize
    with open(f.path, "rb") as fh:
        fh.seek(int(tell))
        buf = fh.read(n)
    if len(buf) != n:
        raise ValueError(f"{f.path.name}: pixel data is truncated ({len(buf)} of {n} bytes)")
    return np.frombuffer(buf, dtype=dtype).reshape(rows, cols)


def _slice_pixels(f: DicomFile) -> tuple[np.ndarray, float, float]:
    """The stored pixels of one slice and its (slope, intercept)."""
    raw = _raw_pixels(f)
    if raw is not None:
        return raw, float(f.ds.get("RescaleSlope", 1) or 1), float(f.ds.get("RescaleIntercept", 0) or 0)
    path = f.path
    ds = pydicom.dcmread(path)
    try:
        arr = ds.pixel_array
    except Exception as e:  # noqa: BLE001 - a compressed syntax pydicom cannot decode: ask GDCM
        return _sitk_pixels(path, e).astype(np.float32), 1.0, 0.0
    if arr.ndim != 2:
        raise ValueError(f"{path.name}: expected a 2-D slice, got pixel array of shape {arr.shape}")
    return arr, float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)


@contextlib.contextmanager
def kept_locale():
    """Restore the process locale afterwards: ITK's DICOM (GDCM) code sets it to "C" and leaves it so,
    after which text decoding elsewhere in the process (subprocess output, files) falls back to ASCII."""
    saved = locale.setlocale(locale.LC_ALL)
    try:
        yield
    finally:
        locale.setlocale(locale.LC_ALL, saved)


def _sitk_pixels(path: Path, first_error: Exception) -> np.ndarray:
    import SimpleITK as sitk

    from ..nifti import SITK_LOCK

    try:
        with SITK_LOCK, kept_locale():
            img = sitk.ReadImage(str(path))
    except RuntimeError as e:
        raise ValueError(f"{path.name}: cannot decode pixel data ({first_error})") from e
    arr = sitk.GetArrayFromImage(img)
    return arr.reshape(arr.shape[-2:])


def load_series(series: Series, workers: int = 2) -> np.ndarray:
    """The (z, y, x) voxels of a series in modality units (HU for CT); missing slices hold the minimum.

    Stored as int16 when every slice is integer with slope 1, a whole intercept and values in
    range (CT, most MR), else float32. Slices are decoded on ``workers`` threads.
    """
    from concurrent.futures import ThreadPoolExecutor

    z, y, x = series.geometry.shape_zyx
    # the decoded planes and the volume they are copied into; compressed slices can decode to far more than their files
    stored = max(1, int(series.files[0].ds.get("BitsAllocated", 16) or 16) // 8)
    check_fits(z * y * x * (stored + 4), f"{series.modality or 'image'} series ({x}x{y}x{z})")
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        planes = list(pool.map(lambda f: None if f is None else _slice_pixels(f), series.slots))
    present = [p for p in planes if p is not None]
    for f, p in zip(series.slots, planes):
        if f is not None and p is not None and p[0].shape != (y, x):
            raise ValueError(f"{f.path.name}: pixel array {p[0].shape} does not match Rows x Columns {(y, x)}")
    lo = min(float(a.min()) * s + i if s >= 0 else float(a.max()) * s + i for a, s, i in present)
    hi = max(float(a.max()) * s + i if s >= 0 else float(a.min()) * s + i for a, s, i in present)
    whole = all(a.dtype.kind in "iu" and s == 1.0 and i == int(i) for a, s, i in present)
    dtype = np.int16 if whole and lo >= -32768 and hi <= 32767 else np.float32
    out = np.empty((z, y, x), dtype=dtype)
    for k, p in enumerate(planes):
        if p is None:
            out[k] = lo
        elif dtype == np.int16:
            np.add(p[0], int(p[2]), out=out[k], casting="unsafe")
        else:
            out[k] = p[0].astype(np.float32) * np.float32(p[1]) + np.float32(p[2])
    return out
