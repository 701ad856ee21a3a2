"""Round paint brush (and, with mode "remove", the eraser).

The radius is in mm, so on anisotropic voxels the footprint is an ellipse (2-D, in the slice of
the view's axis) or an ellipsoid (3-D) in voxel units: voxel offset d from the stamp centre is
inside when (dz*sz)^2 + (dy*sy)^2 + (dx*sx)^2 <= r^2. The stamp centre snaps to the voxel under
the pointer (as in ITK-SNAP), which lets one cached footprint serve every stamp and makes the
cursor the UI draws exactly the voxels that get painted.

A press starts a history stroke and stamps; every move stamps along the segment from the previous
position with a step of at most half the radius, so a fast drag leaves no gap; the release closes
the stroke: one drag is one undo step. The right button inverts the mode (paint <-> erase), the
ITK-SNAP convention.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np

from lundprobe_gui.edit.options import Option
from lundprobe_gui.edit.region import Region
from lundprobe_gui.edit.tool import EditEvent, Tool

logger = logging.getLogger(__name__)


@lru_cache(maxsize=64)
def _footprint(radius_mm: float, spacing: tuple[float, float, float], axis: int | None) -> np.ndarray:
    # one voxel of slack so that float rounding in r / s cannot cut off a voxel at exactly r
    half = [int(math.floor(radius_mm / s)) + 1 for s in spacing]
    if axis is not None:
        half[axis] = 0
    grids = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    dist2 = sum((g * s) ** 2 for g, s in zip(grids, spacing))
    fp = np.broadcast_to(dist2 <= radius_mm**2, tuple(2 * h + 1 for h in half))
    # crop the empty slack symmetrically so the centre stays at shape // 2
    trim = []
    for ax, h in enumerate(half):
        used = np.flatnonzero(fp.any(axis=tuple(i for i in range(3) if i != ax)))
        trim.append(h - int(used.max() - h))
    fp = np.ascontiguousarray(fp[tuple(slice(t, fp.shape[i] - t) for i, t in enumerate(trim))])
    fp.setflags(write=False)
    return fp


def brush_footprint(radius_mm: float, spacing_zyx: Sequence[float], axis: int = 0, three_d: bool = False) -> np.ndarray:
    """Boolean stamp of a round brush, centred in an odd-sized (z, y, x) block.

    Parameters
    ----------
    radius_mm : float
        Brush radius in mm. The centre voxel is always part of the stamp, however small.
    spacing_zyx : sequence of float
        Voxel size in mm.
    axis : int
        Slice normal for a 2-D brush (the block is one voxel thick along it); ignored in 3-D.
    three_d : bool
        Ellipsoid (sphere in mm) instead of an in-slice ellipse.

    Returns
    -------
    numpy.ndarray
        Read-only, cached boolean array; offset (i, j, k) from the centre voxel is at
        ``[hz + i, hy + j, hx + k]`` with ``h = shape // 2``.
    """
    if radius_mm < 0:
        raise ValueError(f"radius must be >= 0, got {radius_mm}")
    spacing = tuple(round(float(s), 9) for s in spacing_zyx)
    return _footprint(round(float(radius_mm), 9), spacing, None if three_d else int(axis))


def stroke_centres(
    start: Sequence[float] | np.ndarray, end: Sequence[float] | np.ndarray, spacing_zyx: Sequence[float], step_mm: float
) -> np.ndarray:
    """Voxel centres of the stamps along a segment, excluding ``start`` and including ``end``.

    Positions are spaced at most ``step_mm`` apart (in mm) and rounded to voxels; consecutive
    duplicates are dropped.
    """
    p0, p1 = np.asarray(start, float), np.asarray(end, float)
    length = float(np.linalg.norm((p1 - p0) * np.asarray(spacing_zyx, float)))
    n = max(1, int(math.ceil(length / max(step_mm, 1e-6))))
    t = np.arange(1, n + 1, dtype=float)[:, None] / n
    pts = np.floor(p0 + t * (p1 - p0) + 0.5).astype(np.int64)
    keep = np.ones(len(pts), dtype=bool)
    keep[1:] = np.any(pts[1:] != pts[:-1], axis=1)
    return pts[keep]


def stamps_region(centres: np.ndarray, footprint: np.ndarray) -> Region | None:
    """Union of the footprint placed at each (z, y, x) centre, over the smallest common box."""
    centres = np.asarray(centres, dtype=np.int64).reshape(-1, 3)
    if centres.size == 0:
        return None
    half = np.asarray(footprint.shape) // 2
    lo = centres.min(axis=0) - half
    hi = centres.max(axis=0) + half + 1
    values = np.zeros(tuple(hi - lo), dtype=bool)
    size = footprint.shape
    for c in centres - half - lo:
        sl = tuple(slice(int(a), int(a) + n) for a, n in zip(c, size))
        values[sl] |= footprint
    return Region(tuple((int(a), int(b)) for a, b in zip(lo, hi)), values)  # type: ignore[arg-type]


@dataclass
class BrushSettings:
    """Brush settings.

    Parameters
    ----------
    radius_mm : float
        Radius in mm.
    three_d : bool
        Paint spheres (in mm) instead of in-slice discs.
    mode : {"add", "remove"}
        What the left button does; the right button does the opposite.
    """

    radius_mm: float = 5.0
    three_d: bool = False
    mode: str = "add"


RADIUS_OPTION = Option(
    "radius_mm",
    "Brush radius (+/-)",
    "float",
    0.5,
    50.0,
    0.5,
    1,
    " mm",
    tooltip="Radius in mm, so the brush is round on screen whatever the voxel size",
    shared="brush_radius",
)
THREE_D_OPTION = Option(
    "three_d", "3-D (sphere)", "bool", tooltip="Paint spheres through neighbouring slices", shared="brush_3d"
)


class BrushTool(Tool):
    """Round brush painting discs (2-D) or spheres (3-D) of a radius in mm."""

    name: ClassVar[str] = "brush"
    label: ClassVar[str] = "Brush"
    shortcut: ClassVar[str] = "1"
    description: ClassVar[str] = "Edit: brush (left-drag paints; drags are gap-free)"
    settings_type: ClassVar[type | None] = BrushSettings
    options: ClassVar[tuple[Option, ...]] = (RADIUS_OPTION, THREE_D_OPTION)
    brush_cursor: ClassVar[bool] = True
    default_mode: ClassVar[str] = "add"

    def __init__(self, settings: BrushSettings | None = None) -> None:
        super().__init__(settings)
        self.settings: BrushSettings
        self._last: np.ndarray | None = None
        self._stroke_mode = self.settings.mode

    @classmethod
    def default_settings(cls) -> BrushSettings:
        return BrushSettings(mode=cls.default_mode)

    def footprint(self, axis: int = 0) -> np.ndarray:
        """Current stamp as a (z, y, x) block (see :func:`brush_footprint`)."""
        ctx = self._require_ctx()
        return brush_footprint(self.settings.radius_mm, ctx.spacing_zyx, axis, self.settings.three_d)

    @property
    def step_mm(self) -> float:
        """Largest distance between stamps of a drag: half the radius (half a voxel at least)."""
        # half the radius keeps neighbouring stamps overlapping across the whole brush width
        return 0.5 * max(self.settings.radius_mm, min(self._require_ctx().spacing_zyx))

    def cursor_footprint(self, axis: int) -> np.ndarray:
        """In-slice outline of the stamp for a view normal to ``axis``: 2-D (row, column) array.

        For a 3-D brush this is the ellipsoid's central section, the part painted on the slice.
        """
        fp = self.footprint(axis)
        return np.take(fp, fp.shape[axis] // 2, axis=axis)

    def _mode_for(self, event: EditEvent) -> str:
        if self.settings.mode not in ("add", "remove"):
            raise ValueError(f"brush mode must be 'add' or 'remove', got {self.settings.mode!r}")
        if event.button == "right":
            return "remove" if self.settings.mode == "add" else "add"
        return self.settings.mode

    def _position(self, event: EditEvent) -> np.ndarray:
        pos = np.asarray(event.zyx, dtype=float)
        pos[event.axis] = event.slice_index
        return pos

    def _stamp(self, centres: np.ndarray, axis: int) -> None:
        ctx = self._require_ctx()
        region = stamps_region(centres, self.footprint(axis))
        ctx.apply(region, self._stroke_mode)

    def on_press(self, event: EditEvent) -> bool:
        ctx = self._require_ctx()
        ctx.history.begin_stroke()
        self._stroke_mode = self._mode_for(event)
        self._last = self._position(event)
        self._stroke_started(event)
        self._stamp(np.floor(self._last + 0.5)[None, :], event.axis)
        return True

    def _stroke_started(self, event: EditEvent) -> None:
        """Hook for brushes that fix something at the press (the edge-aware brush's seed)."""

    def on_move(self, event: EditEvent) -> bool:
        if self._last is None:
            return False
        pos = self._position(event)
        centres = stroke_centres(self._last, pos, self._require_ctx().spacing_zyx, self.step_mm)
        self._last = pos
        self._stamp(centres, event.axis)
        return True

    def on_release(self, event: EditEvent, was_drag: bool) -> bool:
        if self._last is None:
            return False
        if was_drag:
            self.on_move(event)
        self._finish()
        return True

    def on_click(self, event: EditEvent) -> bool:
        self.on_press(event)
        self._finish()
        return True

    def _finish(self) -> None:
        self._last = None
        if self.ctx is not None:
            self.ctx.history.end_stroke()

    def cancel(self) -> None:
        # a drag interrupted by a tool change still ends as one undo step
        if self._last is not None:
            self._finish()


class EraserTool(BrushTool):
    """The brush removing voxels (right button paints)."""

    name: ClassVar[str] = "eraser"
    label: ClassVar[str] = "Eraser"
    shortcut: ClassVar[str] = "2"
    description: ClassVar[str] = "Edit: eraser"
    default_mode: ClassVar[str] = "remove"


TOOLS = (BrushTool, EraserTool)
