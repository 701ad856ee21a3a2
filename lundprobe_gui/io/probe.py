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
    to confirm truncation before it is reported.
    """
    path = Path(os.fsdecode(path))  # bytes names (any bytes on Linux) are accepted too
    p = str(path)
    if not os.access(path, os.R_OK):
        return Problem(p, "unreadable", "file cannot be read (permission denied)")
    try:
        if os.path.getsize(path) == 0:
            return Problem(p, "corrupt", "file is empty")
        hdr = nifti.read_header(path)
    except nifti.NiftiError as e:
        hdr = None
        fast_err = str(e)
    except OSError as e:
        return Problem(p, "unreadable", f"cannot read file: {e.strerror or e}")
    else:
        fast_err = ""
    try:
        geom, pixel_type, ncomp = nifti.read_geometry(path)
    except nifti.NiftiError as e:
        kind = "truncated" if "truncat" in fast_err else "corrupt"
        return Problem(p, kind, fast_err or str(e))
    except Exception as e:  # noqa: BLE001 - SimpleITK raises plain RuntimeError and more
        return Problem(p, "corrupt", f"cannot read header: {e}")
    why = geom.is_valid()
    if why:
        return Problem(p, "invalid-geometry", why)
    if ncomp != 1:
        return Problem(p, "unsupported", f"{ncomp}-component pixels; a scalar image was expected")
    if hdr is None and fast_err and "datatype" not in fast_err:
        return Problem(p, "corrupt", fast_err)
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
    return Probe(Path(path), geom, pixel_type, hdr.dtype if hdr is not None else None)
