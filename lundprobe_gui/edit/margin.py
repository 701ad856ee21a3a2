"""Grow or shrink a structure by a margin in mm.

Exact and correct for anisotropic voxels: distances come from a Euclidean distance map computed
with the voxel spacing (``scipy.ndimage.distance_transform_edt(..., sampling=spacing_zyx)``), so
a 3 mm margin on 2.5 x 0.47 x 0.47 mm voxels is one slice in z and six pixels in-plane, and round
in mm. The structuring element is the ball {d : |d|_mm <= margin}:

* grow: voxels whose distance to the structure is <= margin;
* shrink: voxels of the structure whose distance to the outside is > margin.

Only the structure's bounding box is processed, padded (and clipped to the grid) by the margin
plus one voxel to grow, by one voxel to shrink. That equals a full-grid computation: grown voxels
lie within the margin of the box, and every outside voxel beyond the padded box projects onto the
one-voxel background ring of the box (clamp its coordinates), which is at least as close, so the
distances to the outside are the same. Outside the grid counts as neither inside nor outside (as
in a full-grid distance map): shrinking does not erode a structure from the grid border.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.ndimage import distance_transform_edt

from lundprobe_gui.core.mask import Box, Mask, as_box, clip_box
from lundprobe_gui.edit.options import Option
from lundprobe_gui.edit.region import Region
from lundprobe_gui.edit.tool import EditEvent, Tool

logger = logging.getLogger(__name__)


def grow_block(block: np.ndarray, margin_mm: float, spacing_zyx: Sequence[float]) -> np.ndarray:
    """Voxels of ``block``'s array within ``margin_mm`` of a set voxel (set voxels included)."""
    if not block.any():
        return block.copy()
    if margin_mm <= 0:
        return block.copy()
    return distance_transform_edt(~block, sampling=tuple(spacing_zyx)) <= margin_mm


def shrink_block(block: np.ndarray, margin_mm: float, spacing_zyx: Sequence[float]) -> np.ndarray:
    """Set voxels of ``block`` farther than ``margin_mm`` from every unset voxel of the array."""
    if margin_mm < 0:
        raise ValueError("shrink margin must be >= 0")
    if block.all():
        # no outside voxel at all: every distance is infinite (scipy would return nonsense)
        return block.copy()
    return distance_transform_edt(block, sampling=tuple(spacing_zyx)) > margin_mm


def padded_box(box: Box, pad: Sequence[int], shape: Sequence[int]) -> Box:
    """``box`` padded by ``pad`` voxels per axis and clipped to the grid."""
    out = clip_box(as_box((a - p, b + p) for (a, b), p in zip(box, pad)), shape)
    assert out is not None  # box itself lies inside the grid
    return out


def margin_pad(margin_mm: float, spacing_zyx: Sequence[float]) -> tuple[int, int, int]:
    """Voxels per axis that a ball of ``margin_mm`` can reach, plus one of background."""
    return tuple(int(math.floor(abs(margin_mm) / s)) + 1 for s in spacing_zyx)  # type: ignore[return-value]


def margin_region(mask: Mask, margin_mm: float, spacing_zyx: Sequence[float]) -> tuple[Region, str] | None:
    """The region and mode that grow (``margin_mm`` > 0) or shrink (< 0) the mask.

    Returns
    -------
    (Region, str) or None
        Voxels to add with mode "add", or to remove with mode "remove"; None for an empty mask or
        a zero margin.
    """
    bbox = mask.bbox()
    if bbox is None or margin_mm == 0:
        return None
    if margin_mm > 0:
        box = padded_box(bbox, margin_pad(margin_mm, spacing_zyx), mask.shape)
        block = mask.read(box)
        return Region(box, grow_block(block, margin_mm, spacing_zyx) & ~block), "add"
    box = padded_box(bbox, (1, 1, 1), mask.shape)
    block = mask.read(box)
    return Region(box, block & ~shrink_block(block, -margin_mm, spacing_zyx)), "remove"


@dataclass
class MarginSettings:
    """Margin settings.

    Parameters
    ----------
    margin_mm : float
        Positive grows, negative shrinks.
    """

    margin_mm: float = 3.0


class MarginTool(Tool):
    """Grow or shrink the whole structure by a margin in mm (on click or :meth:`run`)."""

    name: ClassVar[str] = "margin"
    label: ClassVar[str] = "Grow / shrink"
    shortcut: ClassVar[str] = "7"
    description: ClassVar[str] = "Edit: grow / shrink by a margin in mm"
    settings_type: ClassVar[type | None] = MarginSettings
    options: ClassVar[tuple[Option, ...]] = (
        Option("margin_mm", "Margin (+ grows)", "float", -30.0, 30.0, 0.5, 1, " mm"),
    )
    apply_text: ClassVar[str] = "Grow or shrink the whole structure"

    def __init__(self, settings: MarginSettings | None = None) -> None:
        super().__init__(settings)
        self.settings: MarginSettings

    def run(self) -> bool:
        """Apply the margin as one undo step; returns True when the structure changed."""
        ctx = self._require_ctx()
        return ctx.apply_found(margin_region(ctx.mask, self.settings.margin_mm, ctx.spacing_zyx))

    def on_click(self, event: EditEvent) -> bool:
        return self.run()

    def apply(self, cursor: tuple[int, int, int], axis: int) -> bool:
        return self.run()


TOOLS = (MarginTool,)
