"""Between storage and display: a signed axis permutation taken from the direction matrix.

Views show the patient's anatomy the same way whatever order a file stores its voxels in. The
*display array* is the stored (z, y, x) array with its axes permuted and flipped so that, like
a volume stored the DICOM way (LPS), display axis 0 runs inferior -> superior, axis 1
anterior -> posterior and axis 2 right -> left. For LPS storage the permutation is the
identity and nothing changes; for any other axis-aligned storage the display array is a numpy
*view* of the stored one (transposes and negative strides), never a copy and never a resample,
so every displayed pixel is exactly one stored voxel.

An oblique grid (a direction matrix that is a signed permutation only within some degrees) is
shown on its nearest axes; :attr:`Orientation.obliquity_deg` says by how much, so views and
``info`` can say so. World coordinates are never approximated: they always come from the full
:class:`~lundprobe_gui.core.geometry.Geometry`.

Everything that edits or saves works in storage indices; only rendering and the mapping of a
screen point to a voxel go through this module. ``io`` never sees it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .geometry import Geometry
from .mask import Box

OBLIQUE_TOLERANCE_DEG = 1.0
"""Below this angle between an axis and its nearest anatomical direction a grid counts as axis-aligned."""

DISPLAY_LETTERS = (("I", "S"), ("A", "P"), ("R", "L"))
"""Anatomical letters at the (low, high) index ends of display axes 0, 1, 2."""


def axis_aligned_directions() -> list[tuple[float, ...]]:
    """The 48 direction matrices (row-major, as SimpleITK gives them) of axis-aligned storage orders."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            for itk_axis, world_axis in enumerate(perm):
                m[world_axis, itk_axis] = signs[itk_axis]
            out.append(tuple(float(v) for v in m.ravel()))
    return out


def world_in(lps_mm: Sequence[float], coords: str) -> tuple[float, float, float]:
    """An LPS point (mm) in the convention ``coords``: "LPS" (DICOM) as is, "RAS" (NIfTI) with x and y negated."""
    x, y, z = (float(v) for v in lps_mm)
    return (-x, -y, z) if coords.upper() == "RAS" else (x, y, z)


@dataclass(frozen=True)
class Orientation:
    """How a stored (z, y, x) array maps onto the display array.

    Parameters
    ----------
    axes : tuple of int
        ``axes[d]`` is the stored array axis (0 = z, 1 = y, 2 = x) that becomes display axis ``d``.
    flips : tuple of bool
        ``flips[d]``: display index ``i`` along ``d`` is stored index ``n - 1 - i``.
    shape_zyx : tuple of int
        The stored array shape.
    obliquity_deg : float
        Largest angle between a grid axis and the anatomical direction it is shown along.
    """

    axes: tuple[int, int, int] = (0, 1, 2)
    flips: tuple[bool, bool, bool] = (False, False, False)
    shape_zyx: tuple[int, int, int] = (1, 1, 1)
    obliquity_deg: float = 0.0

    # -- construction ----------------------------------------------------------------
    @classmethod
    def from_geometry(cls, geometry: Geometry) -> Orientation:
        """The nearest signed axis permutation of a grid's direction matrix.

        The permutation maximises the summed absolute cosines between each grid axis and the world
        axis it is assigned to, so even a 45-degree grid gets three distinct display axes.
        """
        m = geometry.matrix  # columns: world directions of ITK axes x, y, z
        best = max(itertools.permutations(range(3)), key=lambda p: sum(abs(m[p[i], i]) for i in range(3)))
        axes = [0, 0, 0]
        flips = [False, False, False]
        worst = 0.0
        for itk_axis, world_axis in enumerate(best):
            col = m[:, itk_axis]
            norm = float(np.linalg.norm(col)) or 1.0
            cosine = min(1.0, abs(float(col[world_axis])) / norm)
            worst = max(worst, math.degrees(math.acos(cosine)))
            # world axis j (x = L, y = P, z = S) is display axis 2 - j; ITK axis i is array axis 2 - i
            d = 2 - world_axis
            axes[d] = 2 - itk_axis
            flips[d] = bool(col[world_axis] < 0)
        return cls(tuple(axes), tuple(flips), tuple(geometry.shape_zyx), round(worst, 6))  # type: ignore[arg-type]

    @classmethod
    def identity(cls, shape_zyx: Sequence[int]) -> Orientation:
        """The mapping of LPS-stored data: the display array is the stored array."""
        return cls(shape_zyx=tuple(int(n) for n in shape_zyx))  # type: ignore[arg-type]

    # -- description -----------------------------------------------------------------
    @property
    def is_identity(self) -> bool:
        """Stored and display arrays are the same (LPS storage)."""
        return self.axes == (0, 1, 2) and not any(self.flips)

    @property
    def is_oblique(self) -> bool:
        """The grid is rotated beyond :data:`OBLIQUE_TOLERANCE_DEG` against the anatomical axes."""
        return self.obliquity_deg > OBLIQUE_TOLERANCE_DEG

    def obliquity_text(self) -> str:
        """``"oblique 4.0°"`` for an oblique grid, else an empty string."""
        return f"oblique {self.obliquity_deg:.1f}°" if self.is_oblique else ""

    def storage_code(self) -> str:
        """The three letters the stored x, y, z axes point to (``"LPS"``, ``"RAS"``, ``"LAS"``, ``"PSR"``...)."""
        letters = [""] * 3
        for d, a in enumerate(self.axes):
            letters[2 - a] = DISPLAY_LETTERS[d][0 if self.flips[d] else 1]
        return "".join(letters)

    @property
    def display_shape(self) -> tuple[int, int, int]:
        """Shape of the display array."""
        return tuple(self.shape_zyx[a] for a in self.axes)  # type: ignore[return-value]

    def display_spacing(self, spacing_zyx: Sequence[float]) -> tuple[float, float, float]:
        """Voxel size in mm along the display axes, from the stored (z, y, x) spacing."""
        return tuple(float(spacing_zyx[a]) for a in self.axes)  # type: ignore[return-value]

    def stored_axis(self, display_axis: int) -> int:
        """The stored array axis shown along (or, for a view, normal to) ``display_axis``."""
        return self.axes[display_axis]

    # -- indices ---------------------------------------------------------------------
    def _flip(self, d: int, v: float) -> float:
        return (self.shape_zyx[self.axes[d]] - 1) - v if self.flips[d] else v

    def to_display(self, zyx: Sequence[float]) -> tuple[float, float, float]:
        """Display (continuous) index of a stored (z, y, x) index; voxel centres stay voxel centres."""
        return tuple(float(self._flip(d, float(zyx[self.axes[d]]))) for d in range(3))  # type: ignore[return-value]

    def to_stored(self, display_zyx: Sequence[float]) -> tuple[float, float, float]:
        """Stored (z, y, x) index of a display index; inverse of :meth:`to_display`."""
        out = [0.0, 0.0, 0.0]
        for d in range(3):
            out[self.axes[d]] = float(self._flip(d, float(display_zyx[d])))
        return tuple(out)  # type: ignore[return-value]

    def display_index(self, display_axis: int, stored_zyx: Sequence[float]) -> int:
        """The display slice index along ``display_axis`` of a stored position (rounded)."""
        return int(round(self._flip(display_axis, float(stored_zyx[self.axes[display_axis]]))))

    def stored_index(self, display_axis: int, index: float) -> int:
        """The stored index along :meth:`stored_axis` of display slice ``index`` (rounded)."""
        return int(round(self._flip(display_axis, float(index))))

    def stored_step(self, display_axis: int, delta: int) -> int:
        """How a step of ``delta`` display slices moves the stored index."""
        return -delta if self.flips[display_axis] else delta

    def box_to_display(self, box: Box) -> Box:
        """A stored (z, y, x) box (stop exclusive) in display indices."""
        out = []
        for d, a in enumerate(self.axes):
            lo, hi = box[a]
            if self.flips[d]:
                n = self.shape_zyx[a]
                lo, hi = n - hi, n - lo
            out.append((int(lo), int(hi)))
        return tuple(out)  # type: ignore[return-value]

    def box_to_stored(self, box: Box) -> Box:
        """A display box in stored (z, y, x) indices; inverse of :meth:`box_to_display`."""
        out: list[tuple[int, int]] = [(0, 0)] * 3
        for d, a in enumerate(self.axes):
            lo, hi = box[d]
            if self.flips[d]:
                n = self.shape_zyx[a]
                lo, hi = n - hi, n - lo
            out[a] = (int(lo), int(hi))
        return tuple(out)  # type: ignore[return-value]

    # -- arrays ----------------------------------------------------------------------
    def view(self, stored: np.ndarray) -> np.ndarray:
        """The display array of a stored (z, y, x[, ...]) array: a numpy view, never a copy."""
        if self.is_identity:
            return stored
        rest = tuple(range(3, stored.ndim))
        out = np.transpose(stored, self.axes + rest)
        flips = tuple(slice(None, None, -1) if f else slice(None) for f in self.flips)
        return out[flips]

    def plane(self, stored_plane: np.ndarray, display_axis: int) -> np.ndarray:
        """A stored plane normal to :meth:`stored_axis` ``(display_axis)``, in display order.

        ``stored_plane`` holds the two remaining stored axes in increasing order (what
        ``array.take(i, axis)`` gives; trailing axes such as RGBA are carried along). The result
        is ``self.view(array).take(display_index, display_axis)``: rows along the lower remaining
        display axis, columns along the other, as a view of the input.
        """
        if self.is_identity:
            return stored_plane
        rows_d, cols_d = (d for d in range(3) if d != display_axis)
        rows_a, cols_a = self.axes[rows_d], self.axes[cols_d]
        out = stored_plane
        if rows_a > cols_a:
            out = np.swapaxes(out, 0, 1)
        if self.flips[rows_d]:
            out = out[::-1]
        if self.flips[cols_d]:
            out = out[:, ::-1]
        return out
