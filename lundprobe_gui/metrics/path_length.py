"""Added path length (APL) and false-negative path length (FNPL), Vaassen et al. (2020).

The APL estimates how much contour an observer has to draw to turn a test (e.g. deep-learning)
contour into the reference: the length of the test contour lying farther than a tolerance from
the reference contour, slice by slice. The FNPL is the same with the roles swapped: the length
of the reference contour farther than the tolerance from the test contour.

Convention (pinned here and in docs/metrics.md)
----------------------------------------------
* Slices are axial, i.e. along array axis 0 (z); nothing is compared across slices.
* The contour of a mask on a slice is the set of pixel *edges* between a pixel inside the mask
  and a 4-neighbour outside it (the grid border counts as outside). An edge between rows
  ``y`` and ``y + 1`` runs along x and is ``spacing_x`` long; an edge between columns ``x`` and
  ``x + 1`` runs along y and is ``spacing_y`` long. A contour's length is the sum of its edges,
  so an axis-aligned rectangle of ``h x w`` pixels has length ``2 (h s_y + w s_x)``.
* An edge is located at its midpoint. Its distance to the other contour is the in-plane
  Euclidean distance (mm) from that midpoint to the nearest edge midpoint of the other contour
  on the same slice, from an exact distance transform on a half-pixel grid with sampling
  ``(s_y / 2, s_x / 2)``.
* A test edge is *added* when that distance is strictly greater than the tolerance, or when
  the reference has no contour on that slice (the whole test contour of the slice is added).
  APL = total length of the added test edges over all slices; FNPL = total length of the
  reference edges farther than the tolerance from the test contour (all of them on slices
  where the test is empty).
* Empty masks give 0.0 rather than None: with an empty reference, the APL is the whole test
  contour length.

With this convention a reference square grown on one side by ``k`` pixels has an APL of the
grown side's length plus the part of the two lengthened sides farther than the tolerance from
the old corner; the tests check such cases exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .crop import CroppedPair, MaskLike, crop_pair

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PathLength:
    """APL and FNPL of a pair, with their per-slice values.

    Attributes
    ----------
    apl_mm : float
        Added path length: test contour farther than the tolerance from the reference.
    fnpl_mm : float
        False-negative path length: reference contour farther than the tolerance from the test.
    tolerance_mm : float
        The tolerance used.
    slices : tuple of int
        Full-grid z indices of the slices where either mask has a contour, ascending.
    apl_by_slice_mm, fnpl_by_slice_mm : tuple of float
        The APL and FNPL of each of those slices.
    """

    apl_mm: float
    fnpl_mm: float
    tolerance_mm: float
    slices: tuple[int, ...] = ()
    apl_by_slice_mm: tuple[float, ...] = ()
    fnpl_by_slice_mm: tuple[float, ...] = ()


def _edge_grid(mask2d: np.ndarray) -> np.ndarray:
    """Contour edges of a padded 2-D mask placed on the half-pixel grid.

    Pixel (y, x) sits at (2y + 1, 2x + 1); the edge between rows y and y + 1 at (2y + 2, 2x + 1)
    and the edge between columns x and x + 1 at (2y + 1, 2x + 2).
    """
    ny, nx = mask2d.shape
    grid = np.zeros((2 * ny, 2 * nx), dtype=bool)
    grid[2 : 2 * ny - 1 : 2, 1::2] = mask2d[:-1, :] ^ mask2d[1:, :]
    grid[1::2, 2 : 2 * nx - 1 : 2] = mask2d[:, :-1] ^ mask2d[:, 1:]
    return grid


def _edge_lengths(shape: tuple[int, int], spacing_yx: tuple[float, float]) -> np.ndarray:
    """Length of the edge at every half-pixel grid point (0 where there is no edge position)."""
    lengths = np.zeros(shape, dtype=np.float64)
    lengths[0::2, 1::2] = spacing_yx[1]  # between two rows: runs along x
    lengths[1::2, 0::2] = spacing_yx[0]  # between two columns: runs along y
    return lengths


def _far_length(
    edges: np.ndarray, other: np.ndarray, lengths: np.ndarray, half_spacing: tuple[float, float], tolerance_mm: float
) -> float:
    """Total length of ``edges`` farther than the tolerance from the edges ``other``."""
    if not edges.any():
        return 0.0
    if not other.any():
        return float(lengths[edges].sum())
    dist = ndimage.distance_transform_edt(~other, sampling=half_spacing)
    return float(lengths[edges & (dist > tolerance_mm)].sum())


def slice_path_lengths(
    reference2d: np.ndarray, test2d: np.ndarray, spacing_yx: Sequence[float], tolerance_mm: float = 1.0
) -> tuple[float, float]:
    """APL and FNPL of one 2-D slice.

    Parameters
    ----------
    reference2d, test2d : numpy.ndarray
        2-D (y, x) masks of the same shape (non-zero is inside); the border of the array
        counts as outside.
    spacing_yx : sequence of float
        In-plane pixel spacing in mm, (y, x).
    tolerance_mm : float
        Contour farther than this from the other contour counts.

    Returns
    -------
    tuple of float
        (APL, FNPL) in mm.
    """
    ref = np.pad(np.asarray(reference2d) != 0, 1)
    test = np.pad(np.asarray(test2d) != 0, 1)
    if ref.shape != test.shape:
        raise ValueError(f"slices differ in shape: {reference2d.shape} vs {test2d.shape}")
    sy, sx = (float(s) for s in spacing_yx)
    return _padded_slice_lengths(ref, test, (sy, sx), tolerance_mm)


def _padded_slice_lengths(
    ref: np.ndarray, test: np.ndarray, spacing_yx: tuple[float, float], tolerance_mm: float
) -> tuple[float, float]:
    ref_edges = _edge_grid(ref)
    test_edges = _edge_grid(test)
    lengths = _edge_lengths(ref_edges.shape, spacing_yx)
    half = (spacing_yx[0] / 2.0, spacing_yx[1] / 2.0)
    apl = _far_length(test_edges, ref_edges, lengths, half, tolerance_mm)
    fnpl = _far_length(ref_edges, test_edges, lengths, half, tolerance_mm)
    return apl, fnpl


def _slice_box(ref: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both slices cut to the bounding box of their union plus one background pixel.

    The 3-D crop is the union over all slices, but a tube like the rectum covers a small part of
    it on any one slice. Every edge of either contour lies within this box, so the distance
    transform on it gives the same distances at a fraction of the cost.
    """
    either = ref | test
    rows = np.flatnonzero(either.any(axis=1))
    cols = np.flatnonzero(either.any(axis=0))
    r0, r1 = max(int(rows[0]) - 1, 0), min(int(rows[-1]) + 2, ref.shape[0])
    c0, c1 = max(int(cols[0]) - 1, 0), min(int(cols[-1]) + 2, ref.shape[1])
    return ref[r0:r1, c0:c1], test[r0:r1, c0:c1]


def path_length_from_crop(pair: CroppedPair, spacing_zyx: Sequence[float], tolerance_mm: float = 1.0) -> PathLength:
    """APL and FNPL of an already cropped pair (see :func:`added_path_length`)."""
    if len(spacing_zyx) != 3:
        raise ValueError(f"spacing_zyx must have 3 values, got {spacing_zyx!r}")
    if pair.empty:
        return PathLength(0.0, 0.0, float(tolerance_mm))
    spacing_yx = (float(spacing_zyx[1]), float(spacing_zyx[2]))
    # Only slices where either mask has a voxel can hold a contour (the crop pads in y and x,
    # so every in-plane contour is closed).
    present = np.flatnonzero(pair.reference.any(axis=(1, 2)) | pair.test.any(axis=(1, 2)))
    slices, apl_by, fnpl_by = [], [], []
    for z in present:
        ref, test = _slice_box(pair.reference[z], pair.test[z])
        apl, fnpl = _padded_slice_lengths(ref, test, spacing_yx, tolerance_mm)
        slices.append(int(z) + pair.origin[0])
        apl_by.append(apl)
        fnpl_by.append(fnpl)
    return PathLength(
        float(sum(apl_by)), float(sum(fnpl_by)), float(tolerance_mm), tuple(slices), tuple(apl_by), tuple(fnpl_by)
    )


def added_path_length(
    reference: MaskLike, test: MaskLike, spacing_zyx: Sequence[float], tolerance_mm: float = 1.0
) -> PathLength:
    """Added path length and false-negative path length of a test contour against a reference.

    Parameters
    ----------
    reference, test : numpy.ndarray or Mask
        Masks on the same (z, y, x) grid; axial slices are along axis 0.
    spacing_zyx : sequence of float
        Voxel spacing in mm, array-axis order (only the in-plane y and x spacings are used).
    tolerance_mm : float
        Contour within this distance of the other contour is not counted (default 1 mm).

    Returns
    -------
    PathLength
        Totals and per-slice values in mm; see the module docstring for the exact convention.
    """
    return path_length_from_crop(crop_pair(reference, test), spacing_zyx, tolerance_mm)
