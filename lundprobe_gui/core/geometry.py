"""Image geometry: size, spacing, origin and direction, and the voxel <-> world maps.

World coordinates are those SimpleITK uses: LPS (DICOM patient) millimetres.
Index tuples named ``*_xyz`` are in ITK order (x fastest); numpy arrays are (z, y, x).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import SupportsFloat, SupportsInt

import numpy as np

_POSITIVE_LETTERS = ("L", "P", "S")
_NEGATIVE_LETTERS = ("R", "A", "I")


def ints3(values: Iterable[SupportsInt]) -> tuple[int, int, int]:
    """Three ints (a size or an index); a ValueError for any other count."""
    a, b, c = (int(v) for v in values)
    return a, b, c


def floats3(values: Iterable[SupportsFloat]) -> tuple[float, float, float]:
    """Three floats (a spacing, an origin, a point); a ValueError for any other count."""
    a, b, c = (float(v) for v in values)
    return a, b, c


@dataclass(frozen=True)
class Geometry:
    """The grid of a 3-D image.

    Parameters
    ----------
    size_xyz : tuple of int
        Number of voxels along x, y, z.
    spacing : tuple of float
        Voxel size in mm along x, y, z.
    origin : tuple of float
        World position (LPS mm) of the centre of voxel (0, 0, 0).
    direction : tuple of float
        Row-major 3x3 direction cosine matrix, as SimpleITK returns it.
    """

    size_xyz: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    @classmethod
    def from_sitk(cls, obj) -> Geometry:
        """Build from a SimpleITK ``Image`` or an ``ImageFileReader`` that has read its header."""
        size = tuple(int(v) for v in obj.GetSize())
        if len(size) != 3:
            raise ValueError(f"expected a 3-D image, got {len(size)}-D size {size}")
        return cls(
            ints3(size),
            floats3(obj.GetSpacing()),
            floats3(obj.GetOrigin()),
            tuple(float(v) for v in obj.GetDirection()),
        )

    @classmethod
    def from_dict(cls, d: dict) -> Geometry:
        """Inverse of :meth:`to_dict`."""
        return cls(
            ints3(d["size_xyz"]),
            floats3(d["spacing"]),
            floats3(d["origin"]),
            tuple(float(v) for v in d["direction"]),
        )

    def to_dict(self) -> dict:
        """Plain JSON-ready representation."""
        return {
            "size_xyz": list(self.size_xyz),
            "spacing": list(self.spacing),
            "origin": list(self.origin),
            "direction": list(self.direction),
        }

    # -- derived quantities -------------------------------------------------
    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        """Shape of the numpy array of this grid."""
        x, y, z = self.size_xyz
        return (z, y, x)

    @property
    def spacing_zyx(self) -> tuple[float, float, float]:
        """Spacing in array axis order."""
        return (self.spacing[2], self.spacing[1], self.spacing[0])

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 direction matrix (columns are the x, y, z axis directions)."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def voxel_volume_cc(self) -> float:
        """Volume of one voxel in cm^3."""
        return float(np.prod(self.spacing)) / 1000.0

    @property
    def n_voxels(self) -> int:
        """Number of voxels."""
        return int(np.prod(self.size_xyz))

    def is_valid(self) -> str | None:
        """Return why the geometry is unusable, or None when it is fine."""
        vals = list(self.spacing) + list(self.origin) + list(self.direction)
        if not all(math.isfinite(v) for v in vals):
            return "spacing, origin or direction contains NaN or Inf"
        if any(s <= 0 for s in self.spacing):
            return f"non-positive voxel spacing {self.spacing}"
        if any(n <= 0 for n in self.size_xyz):
            return f"empty image size {self.size_xyz}"
        det = float(np.linalg.det(self.matrix))
        if not 0.9 < abs(det) < 1.1:
            return f"direction matrix is not orthonormal (det {det:.3g})"
        return None

    # -- maps ---------------------------------------------------------------
    def index_to_world(self, index_xyz: Sequence[float] | np.ndarray) -> np.ndarray:
        """Map continuous voxel indices (x, y, z), shape (3,) or (N, 3), to LPS mm."""
        idx = np.asarray(index_xyz, dtype=float)
        return np.asarray(self.origin) + (idx * np.asarray(self.spacing)) @ self.matrix.T

    def world_to_index(self, point: Sequence[float] | np.ndarray) -> np.ndarray:
        """Map LPS mm points, shape (3,) or (N, 3), to continuous voxel indices (x, y, z)."""
        p = np.asarray(point, dtype=float) - np.asarray(self.origin)
        return (p @ np.linalg.inv(self.matrix).T) / np.asarray(self.spacing)

    def contains_index(self, index_xyz: Iterable[float]) -> bool:
        """Whether a (rounded) index lies inside the grid."""
        r = [int(round(v)) for v in index_xyz]
        return all(0 <= r[i] < self.size_xyz[i] for i in range(3))

    def axis_letters(self) -> list[tuple[str, str]]:
        """For array axes x, y, z: the anatomical letters at the (low, high) index ends.

        Derived from the direction matrix, so a flipped or rotated image is labelled correctly.
        """
        out = []
        m = self.matrix
        for axis in range(3):
            col = m[:, axis]
            j = int(np.argmax(np.abs(col)))
            if col[j] >= 0:
                out.append((_NEGATIVE_LETTERS[j], _POSITIVE_LETTERS[j]))
            else:
                out.append((_POSITIVE_LETTERS[j], _NEGATIVE_LETTERS[j]))
        return out

    def differences(self, other: Geometry, rtol: float = 1e-4, atol_mm: float = 1e-4) -> list[str]:
        """Human-readable list of how ``other`` differs from this grid (empty when they match).

        The origin tolerance is far below a voxel on purpose: a mask shifted by a fraction of a
        millimetre is misaligned and must be reported, never silently shown.
        """
        diffs = []
        if tuple(self.size_xyz) != tuple(other.size_xyz):
            diffs.append(f"size {tuple(other.size_xyz)} != {tuple(self.size_xyz)}")
        if not np.allclose(self.spacing, other.spacing, rtol=rtol, atol=1e-6):
            diffs.append(f"spacing {_fmt(other.spacing)} != {_fmt(self.spacing)}")
        if not np.allclose(self.origin, other.origin, rtol=0, atol=atol_mm):
            diffs.append(f"origin {_fmt(other.origin)} != {_fmt(self.origin)}")
        if not np.allclose(self.direction, other.direction, rtol=0, atol=1e-4):
            diffs.append("direction matrix differs")
        return diffs


def _fmt(v: Sequence[float]) -> str:
    return "(" + ", ".join(f"{x:.4g}" for x in v) + ")"
