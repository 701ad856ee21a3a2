"""Where an edit may change the active structure (3D Slicer's "Masking" section).

Three independent restrictions, all evaluated on the region's box only:

* an editable area: only inside, or only outside, another structure;
* an editable intensity range [lo, hi] of the image;
* locked structures: a voxel inside a locked structure is never *added* to the active structure
  (that would claim a voxel of a structure the user froze). Removing is always allowed, because
  taking a voxel out of the active structure never changes the locked one.

The editable area and the intensity range restrict both adding and removing, as in Slicer: the
user sets them to protect everything outside, whatever the tool does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from lundprobe_gui.core.mask import Box, Mask, box_slices
from lundprobe_gui.edit.region import Region

logger = logging.getLogger(__name__)

AreaMode = Literal["inside", "outside"]


def read_image(image: Any, box: Box) -> np.ndarray:
    """Image values in ``box``: ``image.read(box)`` when the object has it, else numpy indexing.

    Parameters
    ----------
    image : object or numpy.ndarray
        Anything with ``read(box)`` returning the (z, y, x) values in the box, or a full-size
        (z, y, x) array.
    box : Box
        Box inside the grid.
    """
    reader = getattr(image, "read", None)
    values = np.asarray(reader(box)) if callable(reader) else np.asarray(image)[box_slices(box)]
    want = tuple(b - a for a, b in box)
    if values.shape != want:
        raise ValueError(f"image returned shape {values.shape} for box {box}, expected {want}")
    return values


@dataclass
class EditConstraint:
    """Masking settings applied to every edit.

    Parameters
    ----------
    area : Mask, optional
        Structure defining the editable area; no area restriction when None.
    area_mode : {"inside", "outside"}
        Edit only inside ``area`` or only outside it.
    intensity_range : tuple of float, optional
        Inclusive [lo, hi]; either end may be None for an open range. Needs an image, either
        ``image`` here or the one the edit context passes in.
    image : object or numpy.ndarray, optional
        Image for the intensity range (``read(box)`` object or full-size array).
    locked : list of Mask
        Structures whose voxels are never added to the active structure.
    description : str
        The settings in the user's words (e.g. "outside BODY"), for :meth:`blocked_message`.
    """

    area: Mask | None = None
    area_mode: AreaMode = "inside"
    intensity_range: tuple[float | None, float | None] | None = None
    image: Any | None = None
    locked: list[Mask] = field(default_factory=list)
    description: str = ""

    def __post_init__(self) -> None:
        if self.area_mode not in ("inside", "outside"):
            raise ValueError(f"area_mode must be 'inside' or 'outside', got {self.area_mode!r}")

    @property
    def is_trivial(self) -> bool:
        """True when the constraint restricts nothing."""
        return self.area is None and self.intensity_range is None and not self.locked

    def blocked_message(self) -> str:
        """What to tell the user when an edit changed nothing because of this constraint."""
        what = f" ({self.description})" if self.description else ""
        return (
            f"Nothing changed: the editable-area settings{what} exclude every voxel of this edit. "
            "Change them under 'Editable area' in the Edit panel."
        )

    def editable(self, box: Box, image: Any | None = None) -> np.ndarray | None:
        """Voxels of ``box`` the area and intensity settings allow to change; None means all.

        Parameters
        ----------
        box : Box
            Box inside the grid.
        image : object or numpy.ndarray, optional
            Used for the intensity range when the constraint has no image of its own.
        """
        allowed: np.ndarray | None = None
        if self.area is not None:
            inside = self.area.read(box)
            allowed = inside if self.area_mode == "inside" else ~inside
        if self.intensity_range is not None:
            img = self.image if self.image is not None else image
            if img is None:
                # silently ignoring the range would let the user paint where they think it is blocked
                raise ValueError("an intensity range is set but no image was given")
            lo, hi = self.intensity_range
            values = read_image(img, box)
            ok = np.ones(values.shape, dtype=bool)
            if lo is not None:
                ok &= values >= lo
            if hi is not None:
                ok &= values <= hi
            allowed = ok if allowed is None else allowed & ok
        return allowed

    def locked_in(self, box: Box, target: Mask | None = None) -> np.ndarray | None:
        """Union of the locked structures in ``box``; None when nothing is locked there.

        ``target`` (the structure being edited) is skipped if it is in the locked list.
        """
        out: np.ndarray | None = None
        for mask in self.locked:
            if mask is target:
                # its own voxels are already set, so as a lock it could block nothing: skip the read
                continue
            part = mask.read(box)
            out = part if out is None else out | part
        return out

    def restrict(self, region: Region, mode: str, image: Any | None = None, target: Mask | None = None) -> Region:
        """The region with the voxels this constraint forbids for ``mode`` removed.

        For "add" the editable area, intensity range and locked structures apply; for "remove"
        only the first two. "set" cannot be expressed by masking the values alone (forbidden
        voxels must keep their old value); :func:`~lundprobe_gui.edit.apply.apply_region` handles
        it with :meth:`editable` and :meth:`locked_in`.
        """
        if mode not in ("add", "remove"):
            raise ValueError(f"restrict handles 'add' and 'remove', got {mode!r}")
        values = region.values
        allowed = self.editable(region.box, image)
        if allowed is not None:
            values = values & allowed
        if mode == "add":
            locked = self.locked_in(region.box, target)
            if locked is not None:
                values = values & ~locked
        return Region(region.box, values)
