"""Surface-element areas of the 256 possible 2x2x2 voxel neighbourhoods.

The surface-distance metrics (Nikolov et al. 2018) place one surface element ("surfel") at every
corner point of the voxel grid whose 2x2x2 neighbourhood is neither all inside nor all outside.
Its area is that of the marching-cubes triangles of the cell spanned by the eight voxel centres
around that point. The 8 voxels of a cell are encoded as the bits of a byte, voxel offset
(a, b, c) in {0, 1}^3 giving bit ``7 - (4a + 2b + c)`` (so the lowest-index voxel is the most
significant bit), which is the encoding of DeepMind's ``surface-distance`` package.

Rather than carrying a 256-entry literal table, the triangles are generated once with the
classic Lorensen & Cline marching cubes of scikit-image, iso-level 0.5, on the minority side of
each cell: a configuration with more than four voxels inside is triangulated as its complement.
That makes complementary configurations share one surface, which is the convention of the
reference table (its ambiguous faces are always resolved as separated corners), and reproduces
that table exactly for every spacing (checked in the tests).

With anisotropic spacing a triangle's area is obtained by scaling its unit-grid normal
``(n0, n1, n2)`` to ``(n0 s1 s2, n1 s0 s2, n2 s0 s1)``, which is exactly the cross-product of the
scaled triangle edges.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

logger = logging.getLogger(__name__)

N_CODES = 256
FULL_CODE = 255


def corner_offsets() -> list[tuple[int, int, int]]:
    """Voxel offsets (a, b, c) of a cell in bit order: index ``i`` is bit ``7 - i``."""
    return [(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)]


def code_to_cell(code: int) -> np.ndarray:
    """The 2x2x2 float cell (1.0 inside) of a neighbourhood code."""
    cell = np.zeros((2, 2, 2), dtype=np.float64)
    for i, (a, b, c) in enumerate(corner_offsets()):
        if (code >> (7 - i)) & 1:
            cell[a, b, c] = 1.0
    return cell


@lru_cache(maxsize=1)
def unit_triangle_normals() -> tuple[np.ndarray, ...]:
    """Per code, the (n, 3) area-weighted normals of its triangles on a unit grid.

    The length of each normal is the triangle's area in voxel units.
    """
    # Imported here: scikit-image is slow to import and the table is built once per session.
    from skimage.measure import marching_cubes

    out: list[np.ndarray] = []
    for code in range(N_CODES):
        if code in (0, FULL_CODE):
            out.append(np.zeros((0, 3)))
            continue
        minority = code if bin(code).count("1") <= 4 else FULL_CODE - code
        verts, faces, _, _ = marching_cubes(code_to_cell(minority), 0.5, method="lorensen")
        tri = verts[faces].astype(np.float64)
        out.append(0.5 * np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]))
    return tuple(out)


@lru_cache(maxsize=32)
def _area_table(spacing: tuple[float, float, float]) -> np.ndarray:
    s0, s1, s2 = spacing
    scale = np.array([s1 * s2, s0 * s2, s0 * s1])
    table = np.zeros(N_CODES, dtype=np.float64)
    for code, normals in enumerate(unit_triangle_normals()):
        if normals.size:
            table[code] = float(np.linalg.norm(normals * scale, axis=1).sum())
    table.setflags(write=False)
    return table


def surfel_area_table(spacing_zyx: Sequence[float]) -> np.ndarray:
    """Surface area in mm^2 of the surfel of every neighbourhood code.

    Parameters
    ----------
    spacing_zyx : sequence of float
        Voxel spacing in mm, in the array-axis order of the masks.

    Returns
    -------
    numpy.ndarray
        Read-only float array of 256 areas; entries 0 and 255 (no surface) are 0.
    """
    return _area_table(tuple(float(s) for s in spacing_zyx))


def neighbour_codes(block: np.ndarray) -> np.ndarray:
    """Neighbourhood code of every grid corner between the voxels of ``block``.

    Parameters
    ----------
    block : numpy.ndarray
        Boolean (z, y, x) array with at least one background voxel on every side, so that every
        surface lies strictly inside it.

    Returns
    -------
    numpy.ndarray
        uint8 array of shape ``block.shape - 1``; element (i, j, k) encodes voxels
        (i..i+1, j..j+1, k..k+1) of ``block``.
    """
    b = block.astype(np.uint8, copy=False)
    nz, ny, nx = b.shape
    code = np.zeros((nz - 1, ny - 1, nx - 1), dtype=np.uint8)
    for i, (a, bb, c) in enumerate(corner_offsets()):
        code |= b[a : nz - 1 + a, bb : ny - 1 + bb, c : nx - 1 + c] << np.uint8(7 - i)
    return code
