"""Fill holes: background enclosed by the structure becomes part of it.

2-D fills the holes of the clicked slice (in the view's orientation); 3-D fills enclosed cavities
of the whole structure. Both use ``scipy.ndimage.binary_fill_holes`` with its default structure,
so background counts as connected through faces only (4-connectivity in 2-D, 6 in 3-D): a hole
that touches the outside only at a corner is still filled. Only the structure's bounding box plus
one voxel of background is processed; clipped at the grid border, that gives the same result as
filling the full grid (background touching the grid border is not a hole).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.ndimage import binary_fill_holes

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.edit.margin import padded_box
from lundprobe_gui.edit.options import Option
from lundprobe_gui.edit.region import Region, plane_axes, slice_box
from lundprobe_gui.edit.tool import EditEvent, Tool

logger = logging.getLogger(__name__)


def fill_holes_region(mask: Mask, three_d: bool = True, axis: int = 0, index: int | None = None) -> Region | None:
    """Region of the holes of the mask (to be added).

    Parameters
    ----------
    mask : Mask
        The structure.
    three_d : bool
        Fill 3-D cavities of the whole structure; otherwise the holes of one slice.
    axis, index : int
        The slice for 2-D filling (``index`` is required then).

    Returns
    -------
    Region or None
        The hole voxels; None when the mask (or slice) is empty.
    """
    bbox = mask.bbox()
    if bbox is None:
        return None
    if three_d:
        box = padded_box(bbox, (1, 1, 1), mask.shape)
        block = mask.read(box)
        return Region(box, binary_fill_holes(block) & ~block)
    if index is None:
        raise ValueError("2-D hole filling needs a slice index")
    if not bbox[axis][0] <= index < bbox[axis][1]:
        return None
    pad = [1, 1, 1]
    pad[axis] = 0
    padded = padded_box(bbox, pad, mask.shape)
    box = slice_box(axis, index, tuple(padded[a] for a in plane_axes(axis)))  # type: ignore[arg-type]
    plane = np.take(mask.read(box), 0, axis=axis)
    holes = binary_fill_holes(plane) & ~plane
    return Region(box, np.expand_dims(holes, axis))


@dataclass
class FillHolesSettings:
    """Fill-holes settings.

    Parameters
    ----------
    three_d : bool
        Whole-structure cavities instead of the clicked slice's holes.
    """

    three_d: bool = False


class FillHolesTool(Tool):
    """Fill holes on the clicked slice (2-D) or in the whole structure (3-D)."""

    name: ClassVar[str] = "fill_holes"
    label: ClassVar[str] = "Fill holes"
    shortcut: ClassVar[str] = "4"
    description: ClassVar[str] = "Edit: fill holes (2-D or 3-D)"
    settings_type: ClassVar[type | None] = FillHolesSettings
    options: ClassVar[tuple[Option, ...]] = (
        Option("three_d", "3-D (whole structure)", "bool", tooltip="Fill enclosed cavities of the whole structure"),
    )
    apply_text: ClassVar[str] = "Fill the holes of the active view's slice (or of the structure in 3-D)"

    def __init__(self, settings: FillHolesSettings | None = None) -> None:
        super().__init__(settings)
        self.settings: FillHolesSettings

    def run(self, axis: int = 0, index: int | None = None) -> bool:
        """Fill holes as one undo step; 2-D needs the slice. Returns True when something changed."""
        ctx = self._require_ctx()
        region = fill_holes_region(ctx.mask, self.settings.three_d, axis, index)
        return ctx.apply(region, "add") is not None

    def on_click(self, event: EditEvent) -> bool:
        return self.run(event.axis, event.slice_index)

    def apply(self, cursor: tuple[int, int, int], axis: int) -> bool:
        return self.run(axis, cursor[axis])


TOOLS = (FillHolesTool,)
