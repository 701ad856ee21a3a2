"""The grids of a synthetic patient and helpers to evaluate world-space functions on them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.geometry import Geometry, floats3, ints3
from ..core.mask import Box, clip_box

FULL_MRI_SIZE = (1024, 682, 88)
FULL_MRI_SPACING = (0.4688, 0.4688, 2.5)
SMALL_MRI_SIZE = (256, 171, 44)
FULL_SCT_SIZE = (512, 512, 88)
SMALL_SCT_SIZE = (128, 128, 44)
DOSE_SPACING = 2.5


@dataclass(frozen=True)
class Grids:
    """MRI, sCT and planning-dose grids of one synthetic patient."""

    mri: Geometry
    sct: Geometry
    dose: Geometry


def _centred(
    size: tuple[int, int, int], spacing: tuple[float, float, float], centre: np.ndarray, direction: tuple[float, ...]
) -> Geometry:
    d = np.asarray(direction, float).reshape(3, 3)
    half = (np.asarray(size) - 1) * np.asarray(spacing) / 2.0
    origin = centre - d @ half
    return Geometry(
        ints3(size),
        floats3(spacing),
        floats3(round(float(v), 4) for v in origin),
        tuple(float(v) for v in direction),
    )


def make_grids(size: str, centre: np.ndarray, direction: tuple[float, ...] | None = None) -> Grids:
    """Grids for ``size`` 'full' (the dataset's 1024x682x88 MRI) or 'small' (same field of view, coarse).

    The sCT has its own, different grid; the planning dose is 2.5 mm isotropic.
    """
    ident = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    direction = direction or ident
    fov = np.asarray(FULL_MRI_SIZE) * np.asarray(FULL_MRI_SPACING)
    if size == "full":
        mri_size, sct_size = FULL_MRI_SIZE, FULL_SCT_SIZE
    elif size == "small":
        mri_size, sct_size = SMALL_MRI_SIZE, SMALL_SCT_SIZE
    else:
        raise ValueError(f"size must be 'full' or 'small', not {size!r}")
    mri_spacing = floats3(round(float(f / n), 4) for f, n in zip(fov, mri_size))
    if size == "full":
        mri_spacing = FULL_MRI_SPACING
    sct_fov = (480.0, 480.0, fov[2])
    sct_spacing = floats3(round(float(f / n), 4) for f, n in zip(sct_fov, sct_size))
    mri = _centred(mri_size, mri_spacing, centre, direction)
    # The sCT grid is offset by a few mm so the two frames really differ, as in the dataset.
    sct = _centred(sct_size, sct_spacing, centre + np.array([1.3, -2.1, 1.25]), ident)
    dose_size = (164, 120, 92)
    dose = _centred(dose_size, (DOSE_SPACING,) * 3, centre + np.array([0.0, 5.0, 0.0]), ident)
    return Grids(mri, sct, dose)


def world_box_to_index_box(geom: Geometry, lo: np.ndarray, hi: np.ndarray, pad: int = 1) -> Box | None:
    """The (z, y, x) index box of ``geom`` covering the world box [lo, hi] (any direction matrix)."""
    corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])])
    idx = geom.world_to_index(corners)
    mn = np.floor(idx.min(axis=0)).astype(int) - pad
    mx = np.ceil(idx.max(axis=0)).astype(int) + pad + 1
    box = ((mn[2], mx[2]), (mn[1], mx[1]), (mn[0], mx[0]))
    return clip_box(box, geom.shape_zyx)


def world_coords(geom: Geometry, box: Box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World x, y, z (LPS mm, float32) of every voxel centre in ``box``, each shaped like the box."""
    (z0, z1), (y0, y1), (x0, x1) = box
    d = geom.matrix
    sx, sy, sz = geom.spacing
    ix = (np.arange(x0, x1, dtype=np.float32) * sx)[None, None, :]
    iy = (np.arange(y0, y1, dtype=np.float32) * sy)[None, :, None]
    iz = (np.arange(z0, z1, dtype=np.float32) * sz)[:, None, None]
    out = []
    for row in range(3):
        o = np.float32(geom.origin[row])
        out.append(o + ix * np.float32(d[row, 0]) + iy * np.float32(d[row, 1]) + iz * np.float32(d[row, 2]))
    return tuple(np.broadcast_to(c, (z1 - z0, y1 - y0, x1 - x0)) for c in out)  # type: ignore[return-value]


def full_box(geom: Geometry) -> Box:
    """The box of the whole grid."""
    return tuple((0, n) for n in geom.shape_zyx)  # type: ignore[return-value]
