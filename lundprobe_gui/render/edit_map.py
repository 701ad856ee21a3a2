"""The "edit map" overlay: where one contour differs from another on the displayed slice.

Two uses, one function:

* **DL against an observer**: ``base`` is the DL mask (``nnUNet``), ``edited`` the observer's mask
  (``step<k>_obs<X>``). *Added* pixels are in the observer's mask only, *removed* pixels in the
  DL mask only: exactly the voxels the uncertainty-versus-edits histogram counts.
* **Step 1 against step 2**: ``base`` is the observer's step 1 mask and ``edited`` the step 2
  mask; *added* is what step 2 has that step 1 has not.

Only the stored blocks of the two masks are touched (via
:func:`~lundprobe_gui.render.slicing.cropped_slice`), and the result is placed in display
coordinates (coronal and sagittal views flipped so that superior is up), ready for
:func:`~lundprobe_gui.render.compose.compose_slice`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.core.orientation import Orientation
from lundprobe_gui.render.colormaps import RGB
from lundprobe_gui.render.compose import MaskLayer
from lundprobe_gui.render.overlay import bbox2d
from lundprobe_gui.render.slicing import cropped_slice

log = logging.getLogger(__name__)

ADDED_COLOUR: RGB = (0, 220, 90)
"""Green: in the edited mask only."""
REMOVED_COLOUR: RGB = (235, 0, 160)
"""Magenta: in the base mask only (green and magenta stay apart for red-green colour blindness)."""
DEFAULT_OPACITY = 0.6


@dataclass(frozen=True)
class EditMapSlice:
    """Added and removed pixels of one displayed slice.

    Attributes
    ----------
    added : numpy.ndarray
        bool (h, w) in display order: in ``edited`` but not in ``base``.
    removed : numpy.ndarray
        bool (h, w), same box: in ``base`` but not in ``edited``.
    offset : tuple of int
        Display (row, col) of element ``[0, 0]`` of both arrays.
    """

    added: np.ndarray
    removed: np.ndarray
    offset: tuple[int, int]

    @property
    def n_added(self) -> int:
        """Number of added pixels."""
        return int(np.count_nonzero(self.added))

    @property
    def n_removed(self) -> int:
        """Number of removed pixels."""
        return int(np.count_nonzero(self.removed))


def _place(cut: tuple[np.ndarray, tuple[int, int]] | None, box: tuple[int, int, int, int]) -> np.ndarray:
    """A cropped slice pasted into a canvas covering ``box`` = (row0, col0, row1, col1)."""
    r0, c0, r1, c1 = box
    out = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    if cut is not None:
        block, (br, bc) = cut
        out[br - r0 : br - r0 + block.shape[0], bc - c0 : bc - c0 + block.shape[1]] = block
    return out


def edit_map_slice(
    base: Mask, edited: Mask, axis: int, index: int, orient: Orientation | None = None
) -> EditMapSlice | None:
    """Where ``edited`` differs from ``base`` on one displayed slice.

    Parameters
    ----------
    base : Mask
        The mask edits are measured from (DL, or the observer's step 1).
    edited : Mask
        The edited mask (the observer's, or step 2), on the same grid.
    axis : int
        View axis (0 axial, 1 coronal, 2 sagittal).
    index : int
        Display slice index along ``axis``.
    orient : Orientation, optional
        Storage-to-display mapping of the masks' grid (identity when omitted).

    Returns
    -------
    EditMapSlice or None
        Cropped to the box of the differences; None when the two agree on this slice.

    Raises
    ------
    ValueError
        When the masks are on different grids.
    """
    if base.shape != edited.shape:
        raise ValueError(f"masks are on different grids: {base.shape} vs {edited.shape}")
    cuts = [cropped_slice(base, axis, index, orient), cropped_slice(edited, axis, index, orient)]
    present = [c for c in cuts if c is not None]
    if not present:
        return None
    r0 = min(off[0] for _, off in present)
    c0 = min(off[1] for _, off in present)
    r1 = max(off[0] + blk.shape[0] for blk, off in present)
    c1 = max(off[1] + blk.shape[1] for blk, off in present)
    box = (r0, c0, r1, c1)
    b = _place(cuts[0], box)
    e = _place(cuts[1], box)
    added = e & ~b
    removed = b & ~e
    tight = bbox2d(added | removed)
    if tight is None:
        return None
    (tr0, tr1), (tc0, tc1) = tight
    return EditMapSlice(
        np.ascontiguousarray(added[tr0:tr1, tc0:tc1]),
        np.ascontiguousarray(removed[tr0:tr1, tc0:tc1]),
        (r0 + tr0, c0 + tc0),
    )


def edit_map_layers(
    base: Mask,
    edited: Mask,
    axis: int,
    index: int,
    added_colour: RGB = ADDED_COLOUR,
    removed_colour: RGB = REMOVED_COLOUR,
    opacity: float = DEFAULT_OPACITY,
    orient: Orientation | None = None,
) -> list[MaskLayer]:
    """Compositor layers of the edit map of one displayed slice.

    Parameters
    ----------
    base, edited : Mask
        See :func:`edit_map_slice`.
    axis, index : int
        View axis and slice index.
    added_colour, removed_colour : tuple of int
        RGB of added and removed pixels.
    opacity : float
        Alpha of both layers, 0-1.
    orient : Orientation, optional
        Storage-to-display mapping of the masks' grid.

    Returns
    -------
    list of MaskLayer
        The added layer then the removed layer, each only when it has pixels; empty when the
        masks agree on this slice.
    """
    diff = edit_map_slice(base, edited, axis, index, orient)
    if diff is None:
        return []
    layers = []
    for arr, colour in ((diff.added, added_colour), (diff.removed, removed_colour)):
        if arr.any():
            layers.append(MaskLayer(arr, colour, opacity, diff.offset))
    return layers
