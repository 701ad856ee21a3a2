"""Edge-aware brush: a round brush that only paints voxels like the one it started on.

ITK-SNAP's adaptive brush and 3D Slicer's threshold paint do the same job: paint up to an organ's
edge without painting across it. Within each stamp of the round footprint (:mod:`.brush`), a voxel
is paintable when

* ``range``: its intensity lies within ``tolerance_pct`` percent of the seed intensity, or
* ``gradient``: the local intensity gradient there (Gaussian derivative, sigma one in-plane voxel,
  in percent of the seed intensity per mm) stays below ``gradient_stop``; an edge stops the paint;

and only the paintable voxels connected to the stamp centre are painted, so a region of the same
intensity beyond an edge is not reached. The seed is the median intensity of the 3x3 in-plane
neighbourhood of the voxel under the press, fixed for the whole drag: a stroke along a boundary
keeps painting the tissue it started on even when the pointer strays over the edge.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import ndimage

from lundprobe_gui.core.mask import clip_box
from lundprobe_gui.edit.brush import RADIUS_OPTION, THREE_D_OPTION, BrushTool, stamps_region
from lundprobe_gui.edit.constraint import read_image
from lundprobe_gui.edit.options import Option
from lundprobe_gui.edit.region import Region, plane_axes
from lundprobe_gui.edit.tool import EditEvent

logger = logging.getLogger(__name__)

CRITERIA = ("range", "gradient")


def seed_intensity(image, zyx: tuple[int, int, int], axis: int, shape: tuple[int, ...]) -> float:
    """Median of the 3x3 in-plane neighbourhood of ``zyx`` on the slice normal to ``axis``."""
    box = []
    for ax, (v, n) in enumerate(zip(zyx, shape)):
        half = 0 if ax == axis else 1
        box.append((max(0, v - half), min(n, v + half + 1)))
    return float(np.median(read_image(image, tuple(box))))  # type: ignore[arg-type]


def similar_voxels(
    block: np.ndarray,
    seed: float,
    criterion: str,
    tolerance_pct: float,
    gradient_stop: float,
    spacing_zyx: tuple[float, float, float],
    axis: int | None,
) -> np.ndarray:
    """Voxels of an image block that the edge-aware brush may paint (before the connectivity rule).

    Parameters
    ----------
    block : numpy.ndarray
        Image values of the stamp's box.
    seed : float
        Seed intensity.
    criterion : {"range", "gradient"}
    tolerance_pct, gradient_stop : float
        See the module docstring.
    spacing_zyx : tuple of float
        Voxel size in mm.
    axis : int or None
        Slice normal of a 2-D brush (the gradient is taken in the slice only); None in 3-D.
    """
    values = block.astype(np.float32, copy=False)
    scale = max(abs(seed), 1e-6)
    if criterion == "range":
        return np.abs(values - np.float32(seed)) <= np.float32(tolerance_pct / 100.0 * scale)
    if criterion != "gradient":
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    inplane = min(spacing_zyx[a] for a in plane_axes(axis if axis is not None else 0))
    sigma = [inplane / s for s in spacing_zyx]
    if axis is not None:
        sigma[axis] = 0.0
    grads = [
        ndimage.gaussian_filter(values, sigma, order=[int(i == ax) for i in range(3)], mode="nearest") / s
        for ax, s in enumerate(spacing_zyx)
        if axis is None or ax != axis
    ]
    magnitude = np.sqrt(sum(g * g for g in grads))
    return magnitude * np.float32(100.0 / scale) <= np.float32(gradient_stop)


def edge_aware_region(footprint: Region, centres: np.ndarray, paintable: np.ndarray, three_d: bool) -> Region | None:
    """The paintable voxels of ``footprint`` connected to one of the stamp ``centres``."""
    allowed = footprint.values & paintable
    structure = ndimage.generate_binary_structure(3, 3 if three_d else 2)
    labels, n = ndimage.label(allowed, structure=structure)
    if n == 0:
        return None
    local = np.asarray(centres, np.int64) - np.asarray(footprint.offset)
    inside = np.all((local >= 0) & (local < np.asarray(labels.shape)), axis=1)
    keep = {int(v) for v in labels[tuple(local[inside].T)] if v}
    if not keep:
        return None
    return Region(footprint.box, np.isin(labels, list(keep)))


@dataclass
class EdgeBrushSettings:
    """Edge-aware brush settings.

    Parameters
    ----------
    radius_mm : float
        Radius in mm (shared with the brush).
    three_d : bool
        Spheres instead of discs (shared with the brush).
    mode : {"add", "remove"}
        What the left button does; the right button does the opposite.
    criterion : {"range", "gradient"}
        Paint voxels within an intensity range around the seed, or stop at edges.
    tolerance_pct : float
        Range criterion: allowed difference from the seed, percent of the seed intensity.
    gradient_stop : float
        Gradient criterion: largest gradient painted, percent of the seed intensity per mm.
    """

    radius_mm: float = 5.0
    three_d: bool = False
    mode: str = "add"
    criterion: str = "range"
    tolerance_pct: float = 20.0
    gradient_stop: float = 10.0


class EdgeBrushTool(BrushTool):
    """A brush that paints only voxels similar to the one under the press, up to the edges."""

    name: ClassVar[str] = "edge_brush"
    label: ClassVar[str] = "Edge-aware brush"
    shortcut: ClassVar[str] = "9"
    description: ClassVar[str] = "Edit: edge-aware brush (paints only what looks like the voxel under the press)"
    settings_type: ClassVar[type | None] = EdgeBrushSettings
    options: ClassVar[tuple[Option, ...]] = (
        RADIUS_OPTION,
        THREE_D_OPTION,
        Option(
            "mode",
            "Left button",
            "choice",
            choices=(("add", "paints"), ("remove", "erases")),
            tooltip="Right: opposite",
        ),
        Option(
            "criterion",
            "Stop at",
            "choice",
            choices=(("range", "intensity range"), ("gradient", "edges (gradient)")),
        ),
        Option(
            "tolerance_pct",
            "Range (+/-)",
            "float",
            1.0,
            100.0,
            1.0,
            0,
            " %",
            tooltip="Paint voxels within this percentage of the intensity under the press",
            shown_when=("criterion", ("range",)),
        ),
        Option(
            "gradient_stop",
            "Edge strength",
            "float",
            1.0,
            200.0,
            1.0,
            0,
            " %/mm",
            tooltip="Stop where the intensity changes faster than this (percent of the seed per mm)",
            shown_when=("criterion", ("gradient",)),
        ),
    )
    needs: ClassVar[frozenset[str]] = frozenset({"image"})
    default_mode: ClassVar[str] = "add"

    def __init__(self, settings: EdgeBrushSettings | None = None) -> None:
        super().__init__(settings)  # type: ignore[arg-type]
        self.settings: EdgeBrushSettings  # type: ignore[assignment]
        self._seed: float | None = None

    @classmethod
    def default_settings(cls) -> EdgeBrushSettings:  # type: ignore[override]
        return EdgeBrushSettings()

    def _stroke_started(self, event: EditEvent) -> None:
        ctx = self._require_ctx()
        centre = tuple(int(v) for v in np.clip(np.floor(self._position(event) + 0.5), 0, np.asarray(ctx.shape) - 1))
        self._seed = seed_intensity(ctx.image, centre, event.axis, ctx.shape)  # type: ignore[arg-type]

    def _stamp(self, centres: np.ndarray, axis: int) -> None:
        ctx = self._require_ctx()
        if self._seed is None:
            return
        s = self.settings
        region = stamps_region(centres, self.footprint(axis))
        if region is None:
            return
        region = region.clip(ctx.shape)
        if region is None:
            return
        inner = clip_box(region.box, ctx.shape)
        block = read_image(ctx.image, inner)  # type: ignore[arg-type]
        paintable = similar_voxels(
            block,
            self._seed,
            s.criterion,
            s.tolerance_pct,
            s.gradient_stop,
            ctx.spacing_zyx,
            None if s.three_d else axis,
        )
        ctx.apply(edge_aware_region(region, centres, paintable, s.three_d), self._stroke_mode)

    def _finish(self) -> None:
        self._seed = None
        super()._finish()


TOOLS = (EdgeBrushTool,)
