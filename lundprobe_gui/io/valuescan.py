"""A cheap look at a NIfTI file's voxel values: is it a mask, a label map or a continuous image?

The header alone cannot tell a uint8 mask from a uint8 image, or a uint16 label map (ITK-SNAP
writes those) from a uint16 MRI, so the voxel data is streamed in chunks and classified:

``binary``
    Every value is 0 or one "inside" value: 1 (also float 1.0) or 255 (a common export).
    An all-zero file is an empty binary mask.
``labels``
    Whole, non-negative numbers with at most :data:`MAX_LABELS` distinct non-zero values that are
    not binary in the sense above (for example 0..6, or only 0 and 3).
``continuous``
    Anything else: a negative value, a non-whole float, a non-finite value, or more than
    :data:`MAX_LABELS` distinct values (images, doses, uncertainty maps).

The scan stops as soon as a file is known to be continuous, so an image costs one chunk (CT air
is negative; an MRI shows hundreds of grey values within a few slices). Masks and label maps are
read to the end, which is cheap because they compress to almost nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.patient import Patient, Problem
from ..core.volume import dose_unit_problem
from . import nifti
from .dicom import rtdose

logger = logging.getLogger(__name__)

try:  # ISA-L inflates several times faster than zlib; optional at run time.
    from isal import igzip as _gzip
except ImportError:  # pragma: no cover - exercised only without isal
    import gzip as _gzip  # type: ignore[no-redef]

MAX_LABELS = 128
"""More distinct non-zero values than this make a file continuous (TotalSegmentator has 117 labels)."""

CHUNK_BYTES = 1 << 20
SAMPLE_SIZE = 65536
"""Values kept (strided) from the scanned part, enough for :func:`~lundprobe_gui.core.modality.looks_like_ct`."""

BINARY_VALUES = ({1}, {255})
FALLBACK_LIMIT = 256 << 20
"""The most bytes a file this module cannot stream may decode to while it is inspected."""


@dataclass(frozen=True)
class ValueScan:
    """What the voxel values of one file look like.

    Attributes
    ----------
    kind : str
        ``"binary"``, ``"labels"`` or ``"continuous"``.
    labels : tuple of int
        Distinct non-zero values, sorted (binary and label maps only; empty for continuous).
    minimum, maximum : float
        Extremes of the finite values seen (the whole file unless ``complete`` is False).
    is_float : bool
        The decoded values are floating point (float dtype or scaled integers).
    complete : bool
        The whole file was read (False when the scan stopped early on a continuous file).
    sample : numpy.ndarray
        A strided sample of the finite values seen, for modality checks.
    """

    kind: str
    labels: tuple[int, ...]
    minimum: float
    maximum: float
    is_float: bool
    complete: bool
    sample: np.ndarray = field(repr=False, compare=False)

    @property
    def is_mask_like(self) -> bool:
        """A binary mask or a label map."""
        return self.kind in ("binary", "labels")


def iter_chunks(path: Path, hdr: nifti.Header, chunk_bytes: int = CHUNK_BYTES) -> Iterator[np.ndarray]:
    """Yield the voxel values of a NIfTI-1 file as flat arrays of about ``chunk_bytes`` each.

    Raises
    ------
    NiftiError
        When the data ends before the size the header declares.
    """
    path = Path(path)
    item = hdr.dtype.itemsize
    chunk_bytes = max(item, chunk_bytes - chunk_bytes % item)
    opener = _gzip.open if nifti.is_gz(path) else open
    remaining = hdr.data_bytes
    with opener(path, "rb") as fh:
        skipped = len(fh.read(hdr.vox_offset))
        if skipped < hdr.vox_offset:
            raise nifti.NiftiError("truncated: the file ends inside its header")
        while remaining > 0:
            raw = fh.read(min(chunk_bytes, remaining))
            if len(raw) < min(chunk_bytes, remaining):
                raise nifti.NiftiError(f"truncated: voxel data ends {remaining - len(raw)} bytes early")
            remaining -= len(raw)
            yield nifti.stored_values(np.frombuffer(raw, dtype=hdr.dtype), hdr)  # what the loader returns


def _array_chunks(arr: np.ndarray, chunk_bytes: int = CHUNK_BYTES) -> Iterator[np.ndarray]:
    flat = np.asarray(arr).reshape(-1)
    step = max(1, chunk_bytes // max(1, flat.itemsize))
    for i in range(0, flat.size, step):
        yield flat[i : i + step]


def _distinct_nonzero(nz: np.ndarray) -> np.ndarray | None:
    """Distinct values of non-zero whole numbers, or None when they cannot be labels."""
    if nz.size == 0:
        return nz.astype(np.int64)
    if nz.dtype.kind == "f" and not np.all(nz == np.floor(nz)):
        return None
    hi = nz.max()
    if hi >= 2**62:
        return None  # not a label value (a float of 1e30 is "whole" but no integer type holds it)
    if hi <= 65535:
        # bincount is an order of magnitude faster than np.unique on millions of voxels.
        return np.flatnonzero(np.bincount(nz.astype(np.int64, copy=False), minlength=1)).astype(np.int64)
    return np.unique(nz).astype(np.int64)


def scan_values(path: Path, max_labels: int = MAX_LABELS, chunk_bytes: int = CHUNK_BYTES) -> ValueScan:
    """Classify one file's voxel values (see the module docstring for the rule).

    Parameters
    ----------
    path : Path
        A 3-D NIfTI file that :func:`lundprobe_gui.io.probe.probe` accepted.
    max_labels : int
        The most distinct non-zero values a label map may have.
    chunk_bytes : int
        Decoded bytes looked at per step.

    Raises
    ------
    NiftiError
        When the voxel data cannot be decoded.
    """
    path = Path(path)
    try:
        hdr = nifti.read_header(path)
    except nifti.NiftiError:
        # Not a NIfTI file this module decodes (a datatype only SimpleITK reads): decode it whole,
        # within a bound, so a header cannot make a header-only command hold gigabytes.
        geom, _, ncomp = nifti.read_geometry(path)
        if geom.n_voxels * ncomp * 8 > FALLBACK_LIMIT:
            raise nifti.NiftiError(
                f"{geom.size_xyz} voxels of a type only SimpleITK reads: too large to inspect"
            ) from None
        chunks: Iterator[np.ndarray] = _array_chunks(nifti.read_array_sitk(path)[0], chunk_bytes)
    else:
        chunks = iter_chunks(path, hdr, chunk_bytes)
    labels: set[int] = set()
    lo, hi = math.inf, -math.inf
    continuous = False
    complete = True
    is_float = False
    samples: list[np.ndarray] = []
    kept = 0
    for arr in chunks:
        is_float = is_float or arr.dtype.kind == "f"
        if not arr.any():
            # most chunks of a mask are zeros: no temporaries for them (a header may declare gigabytes)
            lo, hi = min(lo, 0.0), max(hi, 0.0)
            continue
        if arr.dtype.kind == "f":
            finite = np.isfinite(arr)
            if not finite.all():
                continuous = True
                arr = arr[finite]
        if arr.size:
            lo, hi = min(lo, float(arr.min())), max(hi, float(arr.max()))
            if kept < SAMPLE_SIZE * 4:
                # a copy: a strided view would keep the whole decoded chunk alive for the rest of the scan
                samples.append(arr[:: max(1, arr.size // SAMPLE_SIZE)][:SAMPLE_SIZE].copy())
                kept += samples[-1].size
        if not continuous:
            if lo < 0:
                continuous = True
            else:
                distinct = _distinct_nonzero(arr[arr != 0])
                if distinct is None:
                    continuous = True
                else:
                    labels.update(int(v) for v in distinct)
                    continuous = len(labels) > max_labels
        if continuous:
            complete = False
            break
    if hasattr(chunks, "close"):
        chunks.close()  # release the open file of an abandoned generator now
    sample = np.concatenate(samples)[: SAMPLE_SIZE * 4] if samples else np.zeros(0, np.float32)
    lo, hi = (lo, hi) if math.isfinite(lo) else (0.0, 0.0)
    if continuous:
        return ValueScan("continuous", (), lo, hi, is_float, complete, sample)
    kind = "binary" if not labels or labels in BINARY_VALUES else "labels"
    return ValueScan(kind, tuple(sorted(labels)), lo, hi, is_float, True, sample)


def value_range(path: Path, chunk_bytes: int = CHUNK_BYTES) -> tuple[float, float, bool] | None:
    """(minimum, maximum, integer data) of a file's finite values, streamed chunk by chunk.

    Memory stays at one chunk whatever the header declares. None for a file this module cannot stream.

    Raises
    ------
    NiftiError
        When the voxel data cannot be decoded.
    """
    try:
        hdr = nifti.read_header(path)
    except nifti.NiftiError:
        return None
    lo, hi = math.inf, -math.inf
    for arr in iter_chunks(Path(path), hdr, chunk_bytes):
        if arr.dtype.kind == "f":
            arr = arr[np.isfinite(arr)]
        if arr.size:
            lo, hi = min(lo, float(arr.min())), max(hi, float(arr.max()))
    if not math.isfinite(lo):
        lo = hi = 0.0
    return lo, hi, hdr.dtype.kind in "iu" and hdr.slope in (0.0, 1.0) and hdr.inter == 0.0


def dose_unit_problems(patient: Patient) -> list[Problem]:
    """``implausible-dose`` Problems of a patient's dose files, from a streaming scan of their values.

    For ``info``, which decodes nothing else: each dose file is read once, in chunks, and only its
    extremes are kept.
    """
    out = []
    seen: set[Path] = set()
    for frame in patient.frames.values():
        for vol in frame.doses.values():
            if vol.path in seen:
                continue
            seen.add(vol.path)
            try:
                got = value_range(vol.path) or rtdose.value_range(vol.path)  # NIfTI, else an RTDOSE
            except (nifti.NiftiError, OSError, ValueError) as e:
                out.append(Problem(str(vol.path), "corrupt", f"cannot decode voxel data: {e}"))
                continue
            why = dose_unit_problem(got[1], got[2]) if got is not None else ""
            if why:
                out.append(Problem(str(vol.path), "implausible-dose", why))
    return out
