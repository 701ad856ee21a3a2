"""Morphological opening and closing with a radius in mm.

Built from the exact distance-map margins of :mod:`lundprobe_gui.edit.margin` rather than from a
voxel structuring element: opening = shrink then grow by r, closing = grow then shrink by r, both
with the ball {d : |d|_mm <= r}. That is exact for any spacing (a voxelised ellipsoid element is
the same ball, but binary erosion costs the element's size per voxel, two distance maps a
constant). Consequences of the definition:

* opening removes protrusions and bridges thinner than about 2 r and never adds a voxel;
* closing fills gaps and notches narrower than about 2 r and never removes a voxel;
* with a radius below the slice spacing the ball is flat: the operation is in-plane only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.edit.margin import grow_block, margin_pad, padded_box, shrink_block
from lundprobe_gui.edit.options import Option
from lundprobe_gui.edit.region import Region
from lundprobe_gui.edit.tool import EditEvent, Tool

logger = logging.getLogger(__name__)

OPERATIONS: tuple[str, ...] = ("opening", "closing")


def open_block(block: np.ndarray, radius_mm: float, spacing_zyx: Sequence[float]) -> np.ndarray:
    """Opening of a boolean block (shrink then grow by ``radius_mm``)."""
    return grow_block(shrink_block(block, radius_mm, spacing_zyx), radius_mm, spacing_zyx)


def close_block(block: np.ndarray, radius_mm: float, spacing_zyx: Sequence[float]) -> np.ndarray:
    """Closing of a boolean block (grow then shrink by ``radius_mm``)."""
    return shrink_block(grow_block(block, radius_mm, spacing_zyx), radius_mm, spacing_zyx)


def smooth_region(
    mask: Mask, operation: str, radius_mm: float, spacing_zyx: Sequence[float]
) -> tuple[Region, str] | None:
    """Region and mode applying an opening or closing to the mask.

    The block is the bounding box padded by the radius plus one voxel (clipped to the grid): the
    grown set of a closing fits in it with a ring of background around, which is all the
    shrinking needs (see :mod:`lundprobe_gui.edit.margin`), so the result equals a full-grid
    computation.

    Returns
    -------
    (Region, str) or None
        Voxels to remove ("remove", opening) or to add ("add", closing); None for an empty mask
        or a zero radius.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {OPERATIONS}, got {operation!r}")
    if radius_mm < 0:
        raise ValueError(f"radius must be >= 0, got {radius_mm}")
    bbox = mask.bbox()
    if bbox is None or radius_mm == 0:
        return None
    box = padded_box(bbox, margin_pad(radius_mm, spacing_zyx), mask.shape)
    block = mask.read(box)
    if operation == "opening":
        return Region(box, block & ~open_block(block, radius_mm, spacing_zyx)), "remove"
    return Region(box, close_block(block, radius_mm, spacing_zyx) & ~block), "add"


@dataclass
class SmoothSettings:
    """Smoothing settings.

    Parameters
    ----------
    operation : {"opening", "closing"}
    radius_mm : float
        Radius of the ball in mm.
    """

    operation: str = "closing"
    radius_mm: float = 2.0


class SmoothTool(Tool):
    """Opening or closing of the whole structure (on click or :meth:`run`)."""

    name: ClassVar[str] = "smooth"
    label: ClassVar[str] = "Smooth"
    shortcut: ClassVar[str] = "8"
    description: ClassVar[str] = "Edit: smoothing (opening / closing)"
    settings_type: ClassVar[type | None] = SmoothSettings
    options: ClassVar[tuple[Option, ...]] = (
        Option("operation", "Smoothing", "choice", choices=(("closing", "closing"), ("opening", "opening"))),
        Option("radius_mm", "Smoothing radius", "float", 0.5, 20.0, 0.5, 1, " mm"),
    )
    apply_text: ClassVar[str] = "Smooth the whole structure"

    def __init__(self, settings: SmoothSettings | None = None) -> None:
        super().__init__(settings)
        self.settings: SmoothSettings

    def run(self) -> bool:
        """Apply the operation as one undo step; returns True when the structure changed."""
        ctx = self._require_ctx()
        return ctx.apply_found(
            smooth_region(ctx.mask, self.settings.operation, self.settings.radius_mm, ctx.spacing_zyx)
        )

    def on_click(self, event: EditEvent) -> bool:
        return self.run()

    def apply(self, cursor: tuple[int, int, int], axis: int) -> bool:
        return self.run()


TOOLS = (SmoothTool,)
