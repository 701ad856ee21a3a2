"""Live statistics of an edit: what changed between the starting mask and the working copy.

Everything is computed on the union of the two bounding boxes, outside of which both are empty,
so the numbers are cheap enough to refresh after every stroke.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lundprobe_gui.core.mask import Mask, union_box

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EditStats:
    """Differences between a starting mask and its edited version.

    Parameters
    ----------
    added_cc, removed_cc : float
        Volume added and removed, in cm^3 (1 cc = 1000 mm^3).
    start_cc, current_cc : float
        Volumes of the starting and the current mask.
    dice : float
        Dice coefficient between the two; 1.0 when both are empty.
    slices_touched : tuple of int
        Axial (z) indices where the current mask differs from the start.
    added_voxels, removed_voxels : int
        The same changes counted in voxels.
    """

    added_cc: float
    removed_cc: float
    start_cc: float
    current_cc: float
    dice: float
    slices_touched: tuple[int, ...]
    added_voxels: int
    removed_voxels: int

    @property
    def changed(self) -> bool:
        """True when the current mask differs from the start."""
        return bool(self.added_voxels or self.removed_voxels)


def edit_stats(start: Mask, current: Mask, spacing_zyx: Sequence[float]) -> EditStats:
    """Compare an edited mask with its starting mask.

    Parameters
    ----------
    start, current : Mask
        Masks on the same grid.
    spacing_zyx : sequence of float
        Voxel size in mm.

    Returns
    -------
    EditStats
    """
    if start.shape != current.shape:
        raise ValueError(f"grids differ: {start.shape} vs {current.shape}")
    cc = float(np.prod([float(s) for s in spacing_zyx])) / 1000.0
    box = union_box(start.bbox(), current.bbox())
    if box is None:
        return EditStats(0.0, 0.0, 0.0, 0.0, 1.0, (), 0, 0)
    a, b = start.read(box), current.read(box)
    added = b & ~a
    removed = a & ~b
    n_added, n_removed = int(np.count_nonzero(added)), int(np.count_nonzero(removed))
    n_a, n_b = int(np.count_nonzero(a)), int(np.count_nonzero(b))
    n_both = n_a - n_removed
    dice = 2.0 * n_both / (n_a + n_b) if n_a + n_b else 1.0
    touched = np.flatnonzero((added | removed).any(axis=(1, 2))) + box[0][0]
    return EditStats(
        n_added * cc, n_removed * cc, n_a * cc, n_b * cc, dice, tuple(int(z) for z in touched), n_added, n_removed
    )
