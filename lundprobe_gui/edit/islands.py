"""Remove islands: keep only one connected component of the structure.

Connectivity is 3-D and defaults to 6 (face neighbours). A deep-learning mask often carries
specks that touch the main body only at an edge or a corner; with 6-connectivity those count as
separate islands and are removed, which is what the user asking for "one piece" means. 26 is
available for structures whose thin diagonal parts must stay attached. With 2.5 mm slices, note
that two blobs on neighbouring slices touching only diagonally are separate under 6.

"largest" keeps the component with the most voxels (ties: the first in (z, y, x) scan order);
"clicked" keeps the component under the click and does nothing when the click misses the mask.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.ndimage import generate_binary_structure, label

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.edit.options import Option
from lundprobe_gui.edit.region import Region
from lundprobe_gui.edit.tool import EditEvent, Tool

logger = logging.getLogger(__name__)

_STRUCTURES = {
    6: generate_binary_structure(3, 1),
    18: generate_binary_structure(3, 2),
    26: generate_binary_structure(3, 3),
}


def islands_region(mask: Mask, connectivity: int = 6, keep_voxel: Sequence[int] | None = None) -> Region | None:
    """Region of the voxels outside the kept component (to be removed).

    Parameters
    ----------
    mask : Mask
        The structure.
    connectivity : {6, 18, 26}
        3-D neighbourhood defining a component.
    keep_voxel : sequence of int, optional
        (z, y, x) of a voxel of the component to keep; the largest component when None.

    Returns
    -------
    Region or None
        Voxels to remove; None when the mask is empty or ``keep_voxel`` is not in it.
    """
    if connectivity not in _STRUCTURES:
        raise ValueError(f"connectivity must be 6, 18 or 26, got {connectivity!r}")
    box = mask.bbox()
    if box is None:
        return None
    # components never leave the bounding box, so labelling it equals labelling the full grid
    block = mask.read(box)
    labels, n = label(block, structure=_STRUCTURES[connectivity])
    if keep_voxel is not None:
        local = tuple(int(v) - a for v, (a, _) in zip(keep_voxel, box))
        if not all(0 <= v < b - a for v, (a, b) in zip(local, box)) or labels[local] == 0:
            logger.debug("islands: click %s is not on the structure", tuple(keep_voxel))
            return None
        keep = int(labels[local])
    else:
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        sizes[0] = 0
        keep = int(np.argmax(sizes))
    return Region(box, (labels != 0) & (labels != keep))


@dataclass
class IslandsSettings:
    """Islands settings.

    Parameters
    ----------
    keep : {"largest", "clicked"}
        Which component a click keeps.
    connectivity : {6, 18, 26}
        3-D connectivity.
    """

    keep: str = "largest"
    connectivity: int = 6


class IslandsTool(Tool):
    """Keep the largest or the clicked connected component."""

    name: ClassVar[str] = "islands"
    label: ClassVar[str] = "Remove islands"
    shortcut: ClassVar[str] = "5"
    description: ClassVar[str] = "Edit: remove islands (largest or clicked)"
    settings_type: ClassVar[type | None] = IslandsSettings
    options: ClassVar[tuple[Option, ...]] = (
        Option("keep", "Islands keep", "choice", choices=(("largest", "largest"), ("clicked", "clicked"))),
    )
    apply_text: ClassVar[str] = "Keep the largest component (or the one under the crosshair)"

    def __init__(self, settings: IslandsSettings | None = None) -> None:
        super().__init__(settings)
        self.settings: IslandsSettings

    def run(self, keep_voxel: Sequence[int] | None = None) -> bool:
        """Remove every other component as one undo step; returns True when something changed."""
        ctx = self._require_ctx()
        region = islands_region(ctx.mask, self.settings.connectivity, keep_voxel)
        return ctx.apply(region, "remove") is not None

    def on_click(self, event: EditEvent) -> bool:
        if self.settings.keep == "clicked":
            return self.run(event.voxel())
        if self.settings.keep != "largest":
            raise ValueError(f"keep must be 'largest' or 'clicked', got {self.settings.keep!r}")
        return self.run()

    def apply(self, cursor: tuple[int, int, int], axis: int) -> bool:
        return self.run(cursor if self.settings.keep == "clicked" else None)


TOOLS = (IslandsTool,)
