"""Headers that lie: voxel sizes that are zero, NaN or infinite, and qform and sform that disagree.

SimpleITK (like the NIfTI reference library) replaces a zero or non-finite ``pixdim`` by 1 mm with
only a console warning, so a 2.5 mm slice spacing silently becomes 1 mm and every cc and mm along
that axis is wrong. And when qform and sform both claim to place the image, the two may disagree.
:func:`check_geometry` looks at the raw header next to the geometry SimpleITK made of it and says
which geometry to use and what is wrong, in the way nibabel resolves the same header:

* a bad ``pixdim[1..3]`` with a valid sform: the sform gives the grid (its column norms are the
  voxel sizes), with a ``suspicious-header`` Problem; without a valid sform, ``invalid-geometry``;
* qform and sform disagreeing by more than :data:`XFORM_TOLERANCE_MM` at the grid's corners: a
  ``suspicious-header`` Problem naming the one used (the sform, as nibabel and ITK choose).
"""

from __future__ import annotations

import itertools
import logging
import math

import numpy as np

from ..core.geometry import Geometry, floats3, ints3
from .nifti import Header

logger = logging.getLogger(__name__)

XFORM_TOLERANCE_MM = 0.1
"""qform and sform further apart than this anywhere on the grid are reported."""

_AXES = "xyz"
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def sform_affine(hdr: Header) -> np.ndarray | None:
    """The 4x4 RAS affine of the sform, or None when it is absent or unusable."""
    if hdr.sform_code <= 0:
        return None
    a = np.eye(4)
    a[:3, :] = np.asarray(hdr.srow, dtype=float).reshape(3, 4)
    if not np.all(np.isfinite(a)) or abs(np.linalg.det(a[:3, :3])) < 1e-12:
        return None
    return a


def qform_affine(hdr: Header) -> np.ndarray | None:
    """The 4x4 RAS affine of the qform (quaternion, offsets and pixdim), or None when absent or unusable."""
    if hdr.qform_code <= 0:
        return None
    b, c, d, *offset = (float(v) for v in hdr.quatern)
    zooms = [float(v) for v in hdr.pixdim[1:4]]
    if not all(math.isfinite(v) for v in (b, c, d, *offset, *zooms)) or any(v == 0 for v in zooms):
        return None
    a2 = 1.0 - (b * b + c * c + d * d)
    a = math.sqrt(a2) if a2 > 1e-7 else 0.0
    if a == 0.0:  # a 180-degree rotation: normalise (b, c, d) as the NIfTI reference code does
        n = math.sqrt(b * b + c * c + d * d) or 1.0
        b, c, d = b / n, c / n, d / n
    r = np.array(
        [
            [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
            [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
            [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
        ]
    )
    qfac = -1.0 if hdr.pixdim[0] < 0 else 1.0
    out = np.eye(4)
    out[:3, :3] = r @ np.diag([zooms[0], zooms[1], zooms[2] * qfac])
    out[:3, 3] = offset
    return out


def affine_geometry(affine: np.ndarray, size_xyz: tuple[int, int, int]) -> Geometry:
    """The LPS :class:`Geometry` of a RAS affine (what SimpleITK would build from it)."""
    lps = _RAS_TO_LPS @ affine[:3, :]
    spacing = np.linalg.norm(lps[:, :3], axis=0)
    direction = lps[:, :3] / spacing
    return Geometry(
        ints3(size_xyz),
        floats3(spacing),
        floats3(lps[:, 3]),
        tuple(float(v) for v in direction.ravel()),
    )


def header_geometry(hdr: Header) -> Geometry:
    """The geometry of a header as nibabel reads it: the sform, else the qform, else the voxel sizes alone.

    Used for NIfTI-2, which SimpleITK does not read; without sform and qform the grid is centred on the
    world origin with the left-right axis flipped (nibabel's and SPM's default for an Analyze image).
    """
    size = tuple(int(d) for d in ((*tuple(hdr.dims[:3]), 1, 1, 1))[:3])
    affine = sform_affine(hdr)
    if affine is None:
        affine = qform_affine(hdr)
    if affine is None:
        zooms = [abs(float(v)) if math.isfinite(v) and v != 0 else 1.0 for v in hdr.pixdim[1:4]]
        affine = np.diag([-zooms[0], zooms[1], zooms[2], 1.0])
        affine[:3, 3] = -affine[:3, :3] @ ((np.asarray(size, dtype=float) - 1) / 2)
    return affine_geometry(affine, size)  # type: ignore[arg-type]


def corner_distance(a: Geometry, b: Geometry) -> float:
    """Largest distance in mm between where two geometries put the corners of the grid."""
    corners = np.array(list(itertools.product(*[(0, n - 1) for n in a.size_xyz])), dtype=float)
    return float(np.max(np.linalg.norm(a.index_to_world(corners) - b.index_to_world(corners), axis=1)))


def _apart_at_most(a: np.ndarray, b: np.ndarray, size_xyz) -> float:
    """An upper bound of the corner distance of two affines on a grid (cheap: most headers agree)."""
    d = np.abs(a[:3] - b[:3])
    return float(np.linalg.norm(d[:, 3]) + np.linalg.norm(d[:, :3], axis=0) @ (np.asarray(size_xyz) - 1))


def check_geometry(hdr: Header, geometry: Geometry) -> tuple[Geometry | None, list[tuple[str, str]]]:
    """The geometry to use for a file and what its header gets wrong.

    Parameters
    ----------
    hdr : Header
        The file's parsed header.
    geometry : Geometry
        What SimpleITK made of it.

    Returns
    -------
    geometry : Geometry or None
        The geometry to use; None when the header gives no trustworthy grid.
    problems : list of (kind, message)
        ``invalid-geometry`` (the file cannot be used) or ``suspicious-header`` (used, as said).
    """
    problems: list[tuple[str, str]] = []
    sform = sform_affine(hdr)
    bad = [i for i in range(3) if not (math.isfinite(hdr.pixdim[i + 1]) and hdr.pixdim[i + 1] != 0)]
    if bad:
        what = ", ".join(f"pixdim[{i + 1}] (the {_AXES[i]} voxel size) is {hdr.pixdim[i + 1]:g}" for i in bad)
        if sform is None:
            problems.append(
                (
                    "invalid-geometry",
                    f"{what} and no valid sform gives it: every mm and cc along that axis would be wrong",
                )
            )
            return None, problems
        fixed = affine_geometry(sform, geometry.size_xyz)
        sizes = ", ".join(f"{fixed.spacing[i]:.4g} mm" for i in bad)
        problems.append(("suspicious-header", f"{what}: the sform's voxel size ({sizes}) is used, not 1 mm"))
        return fixed, problems
    qform = qform_affine(hdr)
    if sform is not None and qform is not None and _apart_at_most(qform, sform, geometry.size_xyz) > XFORM_TOLERANCE_MM:
        qgeom, sgeom = affine_geometry(qform, geometry.size_xyz), affine_geometry(sform, geometry.size_xyz)
        apart = corner_distance(qgeom, sgeom)
        if apart > XFORM_TOLERANCE_MM:
            used = "qform" if corner_distance(geometry, qgeom) < corner_distance(geometry, sgeom) else "sform"
            why = "as nibabel and ITK do" if used == "sform" else "SimpleITK found the sform unusable"
            problems.append(
                (
                    "suspicious-header",
                    f"qform and sform disagree by up to {apart:.1f} mm on the grid; the {used} is used ({why})",
                )
            )
    return geometry, problems
