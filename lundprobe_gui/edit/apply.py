"""The one place where edits reach a :class:`~lundprobe_gui.core.mask.Mask`.

Every tool ends in :func:`apply_region`: it combines the region with the mask according to the
mode, applies the :class:`~lundprobe_gui.edit.constraint.EditConstraint`, writes the result and
returns an undo :class:`Patch` cropped to the voxels that really changed. All work happens on the
region's box (never the full grid), which keeps a brush stamp well under a millisecond.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lundprobe_gui.core.mask import Box, Mask, bbox_of, box_slices
from lundprobe_gui.edit.constraint import EditConstraint
from lundprobe_gui.edit.region import Region

logger = logging.getLogger(__name__)

Mode = Literal["add", "remove", "set"]
MODES: tuple[str, ...] = ("add", "remove", "set")


@dataclass(eq=False)
class Patch:
    """The state of ``box`` of ``mask`` before and after one edit.

    Parameters
    ----------
    mask : Mask
        The structure that was changed (patches hold the object, so one history can serve several
        structures).
    box : Box
        Tight box of the changed voxels.
    before, after : numpy.ndarray
        Boolean blocks of the box's shape.
    """

    mask: Mask
    box: Box
    before: np.ndarray
    after: np.ndarray

    def undo(self) -> None:
        """Write ``before`` back into the mask."""
        self.mask.write(self.box, self.before)

    def redo(self) -> None:
        """Write ``after`` into the mask again."""
        self.mask.write(self.box, self.after)

    @property
    def nbytes(self) -> int:
        """Memory of the two unpacked blocks."""
        return int(self.before.nbytes + self.after.nbytes)

    def changed_count(self) -> int:
        """Number of voxels the edit flipped."""
        return int(np.count_nonzero(self.before != self.after))


def combine(
    old: np.ndarray, values: np.ndarray, mode: str, allowed: np.ndarray | None = None, locked: np.ndarray | None = None
) -> np.ndarray:
    """New contents of a box from its old contents and a region's values.

    Parameters
    ----------
    old, values : numpy.ndarray
        Boolean blocks of the same shape.
    mode : {"add", "remove", "set"}
        add = old OR values, remove = old AND NOT values, set = values.
    allowed : numpy.ndarray, optional
        Voxels that may change at all (editable area and intensity range); all when None.
    locked : numpy.ndarray, optional
        Voxels that may not be switched on (locked structures); none when None.

    Returns
    -------
    numpy.ndarray
        The new block.
    """
    if mode == "add":
        on, off = values & ~old, None
    elif mode == "remove":
        on, off = None, values & old
    elif mode == "set":
        on, off = values & ~old, old & ~values
    else:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if on is not None:
        if allowed is not None:
            on &= allowed
        if locked is not None:
            on &= ~locked
    if off is not None and allowed is not None:
        off &= allowed
    new = old.copy()
    if on is not None:
        new |= on
    if off is not None:
        new &= ~off
    return new


def would_change(mask: Mask, region: Region, mode: str) -> bool:
    """Whether ``region`` would change ``mask`` in ``mode`` if no constraint held it back.

    Parameters
    ----------
    mask : Mask
        The structure.
    region : Region
        Voxels to act on.
    mode : {"add", "remove", "set"}
        As in :func:`apply_region`.

    Returns
    -------
    bool
        True when at least one voxel would flip.
    """
    clipped = region.clip(mask.shape)
    if clipped is None:
        return False
    old = mask.read(clipped.box)
    if mode == "add":
        return bool((clipped.values & ~old).any())
    if mode == "remove":
        return bool((clipped.values & old).any())
    return bool((clipped.values != old).any())


def apply_region(
    mask: Mask, region: Region, mode: str, constraint: EditConstraint | None = None, *, image: Any | None = None
) -> Patch | None:
    """Apply a region to a mask and return the undo patch.

    Parameters
    ----------
    mask : Mask
        Structure to edit, changed in place.
    region : Region
        Voxels to act on; parts outside the grid are ignored.
    mode : {"add", "remove", "set"}
        add = OR, remove = AND NOT, set = replace the contents of the region's box.
    constraint : EditConstraint, optional
        Masking settings; voxels it forbids keep their old value.
    image : object or numpy.ndarray, optional
        Image for an intensity range when the constraint has none of its own.

    Returns
    -------
    Patch or None
        Patch over the tight box of the voxels that changed, or None when nothing changed (so a
        click that changes nothing adds no undo step).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    clipped = region.clip(mask.shape)
    if clipped is None:
        return None
    box, values = clipped.box, clipped.values
    # nothing to add or remove: skip even reading the mask
    if mode != "set" and not values.any():
        return None
    old = mask.read(box)
    allowed = locked = None
    if constraint is not None and not constraint.is_trivial:
        allowed = constraint.editable(box, image)
        if mode != "remove":
            locked = constraint.locked_in(box, target=mask)
    new = combine(old, values, mode, allowed, locked)
    diff = new ^ old
    inner = bbox_of(diff)
    if inner is None:
        return None
    sl = box_slices(inner)
    tight: Box = tuple((a + o[0], b + o[0]) for (a, b), o in zip(inner, box))  # type: ignore[assignment]
    before = np.ascontiguousarray(old[sl])
    after = np.ascontiguousarray(new[sl])
    mask.write(tight, after)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s changed %d voxels in %s", mode, int(np.count_nonzero(diff)), tight)
    return Patch(mask, tight, before, after)
