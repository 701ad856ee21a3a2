"""The voxels a tool wants to act on, as a boolean block over a box.

Tools never touch a :class:`~lundprobe_gui.core.mask.Mask` themselves: they describe what they
want as a :class:`Region` and hand it to :func:`lundprobe_gui.edit.apply.apply_region`, which
applies the constraint and records the undo patch. Keeping the region as small as the box the tool
really touches is what keeps a brush stamp on a 61 M voxel grid in the sub-millisecond range.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lundprobe_gui.core.geometry import ints3
from lundprobe_gui.core.mask import Box, clip_box

logger = logging.getLogger(__name__)


def plane_axes(axis: int) -> tuple[int, int]:
    """The two grid axes spanning a slice normal to ``axis``, in (row, column) order.

    Parameters
    ----------
    axis : int
        0 axial, 1 coronal, 2 sagittal.

    Returns
    -------
    tuple of int
        (1, 2) for axial (y, x), (0, 2) for coronal (z, x), (0, 1) for sagittal (z, y), the same
        order as :meth:`Mask.slice2d`.
    """
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis!r}")
    return tuple(i for i in range(3) if i != axis)  # type: ignore[return-value]


def slice_box(axis: int, index: int, plane_box: tuple[tuple[int, int], tuple[int, int]]) -> Box:
    """3-D box of one slice: ``plane_box`` in the slice's (row, column) axes, one voxel thick."""
    out: list[tuple[int, int]] = [(0, 0)] * 3
    out[axis] = (int(index), int(index) + 1)
    for ax, (a, b) in zip(plane_axes(axis), plane_box):
        out[ax] = (int(a), int(b))
    return tuple(out)  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class Region:
    """A boolean block over a box of the full grid.

    Parameters
    ----------
    box : Box
        ((z0, z1), (y0, y1), (x0, x1)), stop exclusive. It may reach outside the grid; use
        :meth:`clip` (``apply_region`` does) before reading or writing a mask.
    values : numpy.ndarray
        Boolean array with the box's shape; True marks the voxels to act on.
    """

    box: Box
    values: np.ndarray

    def __post_init__(self) -> None:
        box = tuple((int(a), int(b)) for a, b in self.box)
        if len(box) != 3 or any(a > b for a, b in box):
            raise ValueError(f"invalid box {self.box!r}")
        values = np.asarray(self.values)
        if values.dtype != bool:
            values = values != 0
        want = tuple(b - a for a, b in box)
        if values.shape != want:
            raise ValueError(f"values of shape {values.shape} do not fit box {box} ({want})")
        # frozen dataclass: normalising the fields needs object.__setattr__
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "values", values)

    # -- construction --------------------------------------------------------
    @classmethod
    def on_slice(
        cls, axis: int, index: int, plane_box: tuple[tuple[int, int], tuple[int, int]], values2d: np.ndarray
    ) -> Region:
        """Region one voxel thick on slice ``index`` normal to ``axis``.

        Parameters
        ----------
        axis, index : int
            The slice.
        plane_box : tuple
            ((r0, r1), (c0, c1)) in the slice's (row, column) axes, see :func:`plane_axes`.
        values2d : numpy.ndarray
            Boolean (r1 - r0, c1 - c0) array.
        """
        return cls(slice_box(axis, index, plane_box), np.expand_dims(np.asarray(values2d, bool), axis))

    @classmethod
    def from_points(cls, zyx: np.ndarray, shape: Sequence[int] | None = None) -> Region | None:
        """Tight region holding integer voxel coordinates ``zyx`` (n, 3); None when there are none.

        Points outside ``shape`` (when given) are dropped.
        """
        pts = np.asarray(zyx, dtype=np.int64).reshape(-1, 3)
        if shape is not None:
            keep = np.all((pts >= 0) & (pts < np.asarray(shape)), axis=1)
            pts = pts[keep]
        if pts.size == 0:
            return None
        lo = pts.min(axis=0)
        hi = pts.max(axis=0) + 1
        values = np.zeros(tuple(hi - lo), dtype=bool)
        values[tuple((pts - lo).T)] = True
        return cls(tuple((int(a), int(b)) for a, b in zip(lo, hi)), values)  # type: ignore[arg-type]

    # -- queries -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of the box."""
        return ints3(self.values.shape)

    @property
    def offset(self) -> tuple[int, int, int]:
        """(z, y, x) of the box's first voxel."""
        return tuple(a for a, _ in self.box)  # type: ignore[return-value]

    def count(self) -> int:
        """Number of voxels in the region."""
        return int(np.count_nonzero(self.values))

    def is_empty(self) -> bool:
        """True when the region holds no voxel."""
        return not self.values.any()

    def clip(self, shape: Sequence[int]) -> Region | None:
        """The part of the region inside a grid of ``shape``; None when nothing is left."""
        inner = clip_box(self.box, shape)
        if inner is None:
            return None
        if inner == self.box:
            return self
        src = tuple(slice(a - o[0], b - o[0]) for (a, b), o in zip(inner, self.box))
        return Region(inner, self.values[src])

    def to_full(self, shape: Sequence[int]) -> np.ndarray:
        """Full-size boolean array of ``shape`` holding the region (clipped to the grid)."""
        out = np.zeros(tuple(int(n) for n in shape), dtype=bool)
        clipped = self.clip(shape)
        if clipped is not None:
            out[tuple(slice(a, b) for a, b in clipped.box)] = clipped.values
        return out

    def __repr__(self) -> str:
        return f"Region(box={self.box}, voxels={self.count()})"
