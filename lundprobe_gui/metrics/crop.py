"""Cropping a pair of masks to the small box where the metrics are computed, and reading boxes.

A full LUND-PROBE grid has 61 M voxels while a prostate covers ~70 k of them, so every metric in
this package runs on the union of the two masks' bounding boxes grown by a margin, never on the
full grid. Masks come either as numpy arrays of the full (z, y, x) grid (non-zero is inside) or
as :class:`lundprobe_gui.core.mask.Mask` objects, and both give identical crops.

Where the padded box reaches past the edge of the grid, the crop is padded with zeros instead of
being clipped: a structure that touches the border of the volume then still has a closed surface
there, as if the grid continued with background. The crop therefore always has at least
``margin`` background voxels on every side of the union of the masks.

Scalar maps (dose, uncertainty) come as full-grid arrays or as any object with a ``read(box)``
method, like :class:`lundprobe_gui.core.volume.Volume`; :func:`read_values` reads a box of either.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast, runtime_checkable

import numpy as np

from ..core.mask import Box, Mask, bbox_of, box_slices, clip_box, union_box

logger = logging.getLogger(__name__)

MaskLike = np.ndarray | Mask
"""A full-grid (z, y, x) array (non-zero is inside) or a cropped :class:`Mask`."""


@dataclass(frozen=True)
class CroppedPair:
    """Two masks cut to their common padded box.

    Attributes
    ----------
    reference, test : numpy.ndarray
        Boolean (z, y, x) blocks of the same shape; shape (0, 0, 0) when both masks are empty.
    origin : tuple of int
        Full-grid index of element ``[0, 0, 0]`` of the blocks. May be negative (or reach past
        the grid) where the block was padded beyond the border of the volume.
    grid_shape : tuple of int
        Shape of the full grid the masks live on.
    """

    reference: np.ndarray
    test: np.ndarray
    origin: tuple[int, int, int]
    grid_shape: tuple[int, int, int]

    @property
    def empty(self) -> bool:
        """True when the block has no voxels (both masks empty)."""
        return self.reference.size == 0


def mask_shape(m: MaskLike) -> tuple[int, int, int]:
    """Full-grid (z, y, x) shape of a mask given as an array or a :class:`Mask`."""
    shape = m.shape if isinstance(m, Mask) else np.shape(m)
    if len(shape) != 3:
        raise ValueError(f"expected a 3-D (z, y, x) mask, got shape {tuple(shape)}")
    return cast("tuple[int, int, int]", tuple(int(n) for n in shape))


def mask_bbox(m: MaskLike) -> Box | None:
    """Tight bounding box of a mask in full-grid indices, or None when it is empty."""
    if isinstance(m, Mask):
        return m.bbox()
    return bbox_of(np.asarray(m))


def read_mask(m: MaskLike, box: Box) -> np.ndarray:
    """Boolean copy of a mask inside ``box``, which may reach outside the grid (read as zero).

    Parameters
    ----------
    m : numpy.ndarray or Mask
        The mask.
    box : Box
        ((z0, z1), (y0, y1), (x0, x1)) in full-grid indices, stop exclusive.

    Returns
    -------
    numpy.ndarray
        Boolean array of the box's shape.
    """
    shape = mask_shape(m)
    out_shape = tuple(b - a for a, b in box)
    inner = clip_box(box, shape)
    if inner is None:
        return np.zeros(out_shape, dtype=bool)
    if isinstance(m, Mask):
        block = m.read(inner)
    else:
        block = np.asarray(m)[box_slices(inner)]
        block = block.astype(bool) if block.dtype != bool else block.copy()
    if inner == tuple(tuple(p) for p in box):
        return block
    # The part of the box beyond the grid is background: pad instead of clipping so that
    # a structure touching the border still gets a closed surface there.
    pad = [(i[0] - b[0], b[1] - i[1]) for i, b in zip(inner, box)]
    return np.pad(block, pad, mode="constant", constant_values=False)


def padded_union_box(boxes: Sequence[Box | None], margin: int) -> Box | None:
    """Union of boxes (None entries ignored) grown by ``margin`` voxels on every side.

    The result is deliberately not clipped to the grid; see :func:`read_mask`.
    """
    union: Box | None = None
    for b in boxes:
        union = union_box(union, b)
    if union is None:
        return None
    return cast(Box, tuple((a - margin, b + margin) for a, b in union))


def crop_pair(reference: MaskLike, test: MaskLike, margin: int = 1) -> CroppedPair:
    """Cut two masks to the union of their bounding boxes plus ``margin`` background voxels.

    Parameters
    ----------
    reference, test : numpy.ndarray or Mask
        Masks on the same (z, y, x) grid.
    margin : int
        Background voxels kept on every side; at least 1 so that every surface is closed.

    Returns
    -------
    CroppedPair
        The two boolean blocks and their full-grid origin.

    Raises
    ------
    ValueError
        When the masks are on grids of different shapes, or ``margin`` < 1.
    """
    if margin < 1:
        raise ValueError("margin must be at least 1 voxel")
    shape = mask_shape(reference)
    if mask_shape(test) != shape:
        raise ValueError(f"masks are on different grids: {shape} vs {mask_shape(test)}")
    box = padded_union_box([mask_bbox(reference), mask_bbox(test)], margin)
    if box is None:
        empty = np.zeros((0, 0, 0), dtype=bool)
        return CroppedPair(empty, empty.copy(), (0, 0, 0), shape)
    logger.debug("cropped pair to %s of grid %s", box, shape)
    return CroppedPair(read_mask(reference, box), read_mask(test, box), (box[0][0], box[1][0], box[2][0]), shape)


@runtime_checkable
class BoxReader(Protocol):
    """Anything that returns the float values of a (z, y, x) box, like ``Volume.read``."""

    def read(self, box: Box) -> np.ndarray: ...


ScalarMap = np.ndarray | BoxReader
"""A full-grid float (z, y, x) array or an object with ``read(box)``."""


def read_values(values: ScalarMap, box: Box) -> np.ndarray:
    """float64 values of a full-grid array or a box reader inside ``box`` (inside the grid).

    Parameters
    ----------
    values : numpy.ndarray or object with ``read(box)``
        The scalar map.
    box : Box
        ((z0, z1), (y0, y1), (x0, x1)), stop exclusive.

    Returns
    -------
    numpy.ndarray
        Array of the box's shape.
    """
    out = values[box_slices(box)] if isinstance(values, np.ndarray) else np.asarray(values.read(box))
    expected = tuple(b - a for a, b in box)
    if out.shape != expected:
        raise ValueError(f"values read for box {box} have shape {out.shape}, expected {expected}")
    return out.astype(np.float64)
