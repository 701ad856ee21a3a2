"""A binary structure held cropped to its bounding box.

A full-size LUND-PROBE mask has 61 M voxels, but a prostate fills well under 1 % of them, so
masks are stored as a small boolean block plus its offset. The block grows when an edit reaches
outside it (with some slack, so a brush stroke does not reallocate at every stamp).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import overload

import numpy as np

Box = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
"""A (z, y, x) box as ((z0, z1), (y0, y1), (x0, x1)), stop exclusive."""

_GROW_SLACK = (2, 24, 24)


def bbox_of(arr: np.ndarray) -> Box | None:
    """Tight bounding box of the non-zero voxels of a 3-D array, or None when it is empty."""
    if arr.ndim != 3:
        raise ValueError("bbox_of expects a 3-D array")
    zs = np.flatnonzero(arr.any(axis=(1, 2)))
    if zs.size == 0:
        return None
    sub = arr[zs[0] : zs[-1] + 1]
    ys = np.flatnonzero(sub.any(axis=(0, 2)))
    xs = np.flatnonzero(sub.any(axis=(0, 1)))
    return ((int(zs[0]), int(zs[-1]) + 1), (int(ys[0]), int(ys[-1]) + 1), (int(xs[0]), int(xs[-1]) + 1))


def read_block(data: np.ndarray, offset: Sequence[int], box: Box) -> np.ndarray:
    """The values of ``box`` from a block stored at ``offset`` of a larger grid (zero where it does not reach)."""
    out = np.zeros(tuple(b - a for a, b in box), dtype=data.dtype)
    if data.size == 0:
        return out
    inter = [(max(a, o), min(b, o + n)) for (a, b), o, n in zip(box, offset, data.shape)]
    if any(a >= b for a, b in inter):
        return out
    dst = tuple(slice(a - q[0], b - q[0]) for (a, b), q in zip(inter, box))
    src = tuple(slice(a - o, b - o) for (a, b), o in zip(inter, offset))
    out[dst] = data[src]
    return out


def as_box(pairs: Iterable[tuple[int, int]]) -> Box:
    """Three (start, stop) pairs as a :data:`Box`; a ValueError for any other count."""
    a, b, c = ((int(lo), int(hi)) for lo, hi in pairs)
    return a, b, c


def clip_box(box: Box, shape: Sequence[int]) -> Box | None:
    """Clip a box to an array shape; None when nothing is left."""
    out = []
    for (a, b), n in zip(box, shape):
        a, b = max(0, int(a)), min(int(n), int(b))
        if a >= b:
            return None
        out.append((a, b))
    return as_box(out)


@overload
def union_box(a: Box | None, b: Box) -> Box: ...
@overload
def union_box(a: Box, b: Box | None) -> Box: ...
@overload
def union_box(a: Box | None, b: Box | None) -> Box | None: ...
def union_box(a: Box | None, b: Box | None) -> Box | None:
    """Smallest box holding both (either may be None)."""
    if a is None:
        return b
    if b is None:
        return a
    return as_box((min(p[0], q[0]), max(p[1], q[1])) for p, q in zip(a, b))


def box_slices(box: Box) -> tuple[slice, slice, slice]:
    """numpy slices for a box."""
    (z0, z1), (y0, y1), (x0, x1) = box
    return slice(z0, z1), slice(y0, y1), slice(x0, x1)


class Mask:
    """A boolean (z, y, x) volume of ``shape`` stored as a cropped block.

    Parameters
    ----------
    shape : tuple of int
        Full (z, y, x) shape of the frame's grid.
    data : numpy.ndarray, optional
        Boolean block; empty mask when omitted.
    offset : tuple of int
        (z, y, x) index of ``data[0, 0, 0]`` in the full grid.
    """

    __slots__ = ("data", "offset", "shape")

    def __init__(self, shape: Sequence[int], data: np.ndarray | None = None, offset: Sequence[int] = (0, 0, 0)) -> None:
        self.shape = tuple(int(v) for v in shape)
        if data is None:
            data = np.zeros((0, 0, 0), dtype=bool)
        self.data = np.ascontiguousarray(data, dtype=bool)
        self.offset = tuple(int(v) for v in offset)

    # -- construction --------------------------------------------------------
    @classmethod
    def from_full(cls, arr: np.ndarray) -> Mask:
        """Crop a full-size array (any dtype; non-zero is inside) to its bounding box."""
        box = bbox_of(arr)
        if box is None:
            return cls(arr.shape)
        return cls(arr.shape, arr[box_slices(box)] != 0, (box[0][0], box[1][0], box[2][0]))

    def copy(self) -> Mask:
        """Independent copy."""
        return Mask(self.shape, self.data.copy(), self.offset)

    # -- queries -------------------------------------------------------------
    @property
    def box(self) -> Box | None:
        """The stored block as a box (may be looser than the tight bounding box)."""
        if self.data.size == 0:
            return None
        return as_box((o, o + n) for o, n in zip(self.offset, self.data.shape))

    def bbox(self) -> Box | None:
        """Tight bounding box of the voxels that are set, in full-grid indices."""
        if self.data.size == 0:
            return None
        inner = bbox_of(self.data)
        if inner is None:
            return None
        return tuple((a + o, b + o) for (a, b), o in zip(inner, self.offset))  # type: ignore[return-value]

    def count(self) -> int:
        """Number of voxels set."""
        return int(np.count_nonzero(self.data))

    def is_empty(self) -> bool:
        """True when no voxel is set."""
        return not self.data.any()

    @property
    def nbytes(self) -> int:
        """Memory held by the block."""
        return int(self.data.nbytes)

    def to_full(self) -> np.ndarray:
        """Full-size boolean (z, y, x) array."""
        out = np.zeros(self.shape, dtype=bool)
        box = self.box
        if box is not None:
            out[box_slices(box)] = self.data
        return out

    def contains(self, z: int, y: int, x: int) -> bool:
        """Whether voxel (z, y, x) is set (False outside the grid)."""
        lz, ly, lx = z - self.offset[0], y - self.offset[1], x - self.offset[2]
        dz, dy, dx = self.data.shape
        return 0 <= lz < dz and 0 <= ly < dy and 0 <= lx < dx and bool(self.data[lz, ly, lx])

    def slice2d(self, axis: int, index: int) -> np.ndarray:
        """Full-size 2-D boolean slice: axis 0 gives (y, x), axis 1 gives (z, x), axis 2 gives (z, y)."""
        plane = tuple(n for i, n in enumerate(self.shape) if i != axis)
        out = np.zeros(plane, dtype=bool)
        box = self.box
        if box is None or not box[axis][0] <= index < box[axis][1]:
            return out
        local: list[slice | int] = [slice(None)] * 3
        local[axis] = index - self.offset[axis]
        dst = tuple(slice(a, b) for i, (a, b) in enumerate(box) if i != axis)
        out[dst] = self.data[tuple(local)]
        return out

    def read(self, box: Box) -> np.ndarray:
        """Boolean copy of ``box`` (clipped to nothing outside the grid is an error)."""
        return read_block(self.data, self.offset, box)

    # -- mutation ------------------------------------------------------------
    def ensure_covers(self, box: Box) -> None:
        """Grow the stored block so that it holds ``box`` (plus slack), keeping the contents."""
        own = self.box
        if own is not None and all(o[0] <= b[0] and b[1] <= o[1] for o, b in zip(own, box)):
            return
        grown = as_box((a - s, b + s) for (a, b), s in zip(box, _GROW_SLACK))
        new_box = clip_box(union_box(own, grown), self.shape)
        if new_box is None:
            raise ValueError(f"box {box} lies outside the grid {self.shape}")
        data = np.zeros(tuple(b - a for a, b in new_box), dtype=bool)
        if own is not None:
            dst = tuple(slice(o[0] - n[0], o[1] - n[0]) for o, n in zip(own, new_box))
            data[dst] = self.data
        self.data = data
        self.offset = tuple(a for a, _ in new_box)

    def write(self, box: Box, values: np.ndarray) -> None:
        """Set the voxels of ``box`` (inside the grid) to ``values`` (same shape as the box)."""
        if not values.any():
            own = self.box
            if own is None:
                return
            inter = clip_box(as_box((max(a[0], b[0]), min(a[1], b[1])) for a, b in zip(box, own)), self.shape)
            if inter is None or any(a >= b for a, b in inter):
                return
        self.ensure_covers(box)
        self.data[self.local(box)] = values

    def local(self, box: Box) -> tuple[slice, slice, slice]:
        """Slices of the stored block for a box that it covers."""
        return tuple(slice(a - o, b - o) for (a, b), o in zip(box, self.offset))  # type: ignore[return-value]

    def compact(self) -> None:
        """Shrink the stored block to the tight bounding box."""
        inner = bbox_of(self.data) if self.data.size else None
        if inner is None:
            self.data = np.zeros((0, 0, 0), dtype=bool)
            self.offset = (0, 0, 0)
            return
        self.data = np.ascontiguousarray(self.data[box_slices(inner)])
        self.offset = tuple(a + o for (a, _), o in zip(inner, self.offset))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mask):
            return NotImplemented
        if self.shape != other.shape:
            return False
        a, b = self.bbox(), other.bbox()
        if a != b:
            return False
        return a is None or bool(np.array_equal(self.read(a), other.read(a)))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Mask(shape={self.shape}, block={self.data.shape} at {self.offset}, voxels={self.count()})"
