"""Header-only inspection of one image file, turning every failure into a :class:`Problem`."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.geometry import Geometry
from ..core.patient import Problem
from . import nifti
from .header_check import check_geometry, header_geometry

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".nii.gz", ".nii")


def is_image_name(name: str) -> bool:
    """Whether a file name looks like a NIfTI image."""
    return name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith(".")


def strip_suffix(name: str) -> str:
    """File name without .nii / .nii.gz."""
    low = name.lower()
    for s in IMAGE_SUFFIXES:
        if low.endswith(s):
            return name[: -len(s)]
    return name


@dataclass(frozen=True)
class Probe:
    """What the header of one file says."""

    path: Path
    geometry: Geometry
    pixel_type: str
    dtype: np.dtype | None
    notes: tuple[Problem, ...] = ()
    """What the header gets wrong that did not stop its use (``suspicious-header`` Problems)."""

    @property
    def is_float(self) -> bool:
        """Float voxel type (dose, uncertainty, or a mask exported as 0.0/1.0)."""
        return self.dtype is not None and self.dtype.kind == "f"

    @property
    def is_integer(self) -> bool:
        """Integer voxel type."""
        return self.dtype is not None and self.dtype.kind in "iu"


def probe(path: Path) -> Probe | Problem:
    """Read one file's header; return a :class:`Probe`, or the :class:`Problem` that stops its use.

    Only headers are decoded. A gzip file whose trailer disagrees with the header's size is decoded
    to confirm truncation before it is reported. A header whose voxel size or placement lies
    (:mod:`lundprobe_gui.io.header_check`) is used as nibabel would use it, and :attr:`Probe.notes`
    says how; one that gives no trustworthy grid is an ``invalid-geometry`` Problem.
    """
    path = Path(os.fsdecode(path))  # bytes names (any bytes on Linux) are accepted too
    p = str(path)
    if not os.access(path, os.R_OK):
        return Problem(p, "unreadable", "file cannot be read (permission denied)")
    fast_err: nifti.NiftiError | None = None
    try:
        if os.path.getsize(path) == 0:
            return Problem(p, "corrupt", "file is empty")
        hdr: nifti.Header | None = nifti.read_header(path)
    except nifti.NiftiError as e:
        hdr, fast_err = None, e
        if e.kind in ("mislabelled", "unsupported") and not e.fallback:
            return Problem(p, e.kind, str(e))
    except OSError as e:
        return Problem(p, "unreadable", f"cannot read file: {e.strerror or e}")
    if hdr is not None and (why := nifti.dimension_problem(hdr.dims)):
        return Problem(p, "unsupported", why)
    try:
        if hdr is not None and hdr.version == 2:
            # SimpleITK cannot read NIfTI-2: the header gives the grid, as nibabel reads it
            geom, pixel_type, ncomp = header_geometry(hdr), hdr.dtype.name, 1
        else:
            geom, pixel_type, ncomp = nifti.read_geometry(path)
    except nifti.NiftiError as e:
        first = fast_err or e
        return Problem(p, first.kind, str(first))
    except Exception as e:  # noqa: BLE001 - SimpleITK raises plain RuntimeError and more
        return Problem(p, "corrupt", f"cannot read header: {e}")
    notes: list[Problem] = []
    if hdr is not None:
        checked, found = check_geometry(hdr, geom)
        notes = [Problem(p, kind, msg) for kind, msg in found]
        if checked is None:
            return notes[0]
        geom = checked
    why = geom.is_valid()
    if why:
        return Problem(p, "invalid-geometry", why)
    if ncomp != 1:
        return Problem(p, "unsupported", f"{ncomp}-component pixels; a scalar image was expected")
    if fast_err is not None and not fast_err.fallback:
        return Problem(p, fast_err.kind, str(fast_err))
    if hdr is not None:
        dims3 = tuple(hdr.dims[:3]) + (1,) * (3 - min(3, len(hdr.dims)))
        if dims3 != tuple(geom.size_xyz):
            return Problem(p, "corrupt", f"header dimensions {hdr.dims} disagree with {geom.size_xyz}")
        try:
            why = nifti.check_complete(path, hdr)
        except OSError as e:
            return Problem(p, "unreadable", f"cannot read file: {e}")
        if why:
            return Problem(p, "truncated" if "truncat" in why or "end" in why else "corrupt", why)
    return Probe(Path(path), geom, pixel_type, hdr.dtype if hdr is not None else None, tuple(notes))


UNSUPPORTED_SUFFIXES = (".hdr", ".img", ".hdr.gz", ".img.gz", ".mgz", ".mgh", ".nrrd", ".mha", ".mhd")


def unsupported_files(folder: Path) -> list[Problem]:
    """Image files in a folder that are not NIfTI, each named with what it is (Analyze, NIfTI pair, ...)."""
    out = []
    try:
        names = sorted(q for q in Path(folder).iterdir() if q.is_file() and not q.name.startswith("."))
    except OSError:
        return []
    stems = {q.name.lower() for q in names}
    for q in names:
        low = q.name.lower()
        if not low.endswith(UNSUPPORTED_SUFFIXES):
            continue
        if low.endswith((".img", ".img.gz")) and low.replace(".img", ".hdr") in stems:
            continue  # reported with its .hdr
        out.append(Problem(str(q), "unsupported", _what(q) + "; not supported: convert it to a single .nii.gz"))
    return out


def _what(path: Path) -> str:
    low = path.name.lower()
    if not low.endswith((".hdr", ".hdr.gz")):
        return f"a {low.split('.', 1)[1].upper()} file"
    try:
        raw = nifti._open_head(path, 348)  # noqa: SLF001 - the same bounded head read
    except (OSError, nifti.NiftiError):
        raw = b""
    if raw[344:347] == b"ni1":
        return "a NIfTI-1 .hdr/.img pair"
    if raw[4:7] == b"ni2":
        return "a NIfTI-2 .hdr/.img pair"
    return "an Analyze 7.5 .hdr/.img pair"
