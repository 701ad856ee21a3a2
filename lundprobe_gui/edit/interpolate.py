"""Fill between slices: interpolate the empty slices between contoured (key) slices.

The user contours every few slices; the key slices are the slices along the chosen axis where the
structure is non-empty. Each run of empty slices between two key slices k0 < k1 is filled by
signed-distance interpolation, the usual approximation of morphological contour interpolation:
with sdf < 0 inside (in-plane mm, from the voxel spacing), slice t gets

    inside  <=>  (1 - w) * sdf_k0 + w * sdf_k1 <= 0,   w = (t - k0) / (k1 - k0).

Identical key shapes are copied unchanged; nested shapes give in-between shapes. The result always
lies within the union of the two key shapes, so key shapes that do not overlap at all (a structure
that moves a lot between key slices) interpolate poorly: contour more slices there.
Empty slices below the first or above the last key slice are left alone (no extrapolation).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.ndimage import distance_transform_edt

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.edit.region import Region, plane_axes
from lundprobe_gui.edit.tool import EditEvent, Tool

logger = logging.getLogger(__name__)


def signed_distance(plane: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Signed distance of a 2-D boolean shape in mm: positive outside, negative inside.

    Outside voxels get their distance to the nearest inside voxel, inside voxels minus their
    distance to the nearest outside voxel, so no voxel has 0 and the zero level lies halfway
    between boundary voxels. The plane is padded by one background pixel so the array border
    counts as outside.
    """
    padded = np.pad(plane, 1)
    sdf = distance_transform_edt(~padded, sampling=tuple(spacing)) - distance_transform_edt(
        padded, sampling=tuple(spacing)
    )
    return sdf[1:-1, 1:-1]


def interpolate_block(block: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Interpolated voxels for the empty slices of ``block`` (slices along axis 0).

    Parameters
    ----------
    block : numpy.ndarray
        Boolean (n, rows, cols) stack.
    spacing : sequence of float
        In-plane (row, column) spacing in mm.

    Returns
    -------
    numpy.ndarray
        Boolean stack holding only the voxels added to the empty slices between key slices.
    """
    out = np.zeros_like(block)
    keys = np.flatnonzero(block.any(axis=(1, 2)))
    sdf_prev = None
    for k0, k1 in itertools.pairwise(keys):
        if k1 - k0 < 2:
            sdf_prev = None
            continue
        # the upper key of one gap is the lower key of the next: reuse its distance map
        sdf0 = sdf_prev if sdf_prev is not None else signed_distance(block[k0], spacing)
        sdf1 = signed_distance(block[k1], spacing)
        for t in range(k0 + 1, k1):
            w = (t - k0) / (k1 - k0)
            out[t] = (1.0 - w) * sdf0 + w * sdf1 <= 0
        sdf_prev = sdf1
    return out


def interpolate_region(mask: Mask, axis: int, spacing_zyx: Sequence[float]) -> Region | None:
    """Region of the voxels that interpolation adds between key slices along ``axis``.

    Only the mask's bounding box is processed (the interpolated shapes lie inside the key shapes'
    union). Returns None for an empty mask.
    """
    bbox = mask.bbox()
    if bbox is None:
        return None
    block = np.moveaxis(mask.read(bbox), axis, 0)
    filled = interpolate_block(block, [spacing_zyx[a] for a in plane_axes(axis)])
    n_keys = int(np.count_nonzero(block.any(axis=(1, 2))))
    logger.debug("interpolation along axis %d from %d key slices", axis, n_keys)
    return Region(bbox, np.moveaxis(filled, 0, axis))


def no_fill_reason(mask: Mask, axis: int) -> str:
    """Why filling between slices along ``axis`` adds nothing, in the user's words.

    Parameters
    ----------
    mask : Mask
        The structure.
    axis : int
        Axis whose slices are the key slices.

    Returns
    -------
    str
        One sentence naming the contoured slices (1-based, as the views count them).
    """
    bbox = mask.bbox()
    if bbox is None:
        return "Fill between slices: the structure is empty. Contour two or more slices a few slices apart first."
    keys = np.flatnonzero(np.moveaxis(mask.read(bbox), axis, 0).any(axis=(1, 2))) + bbox[axis][0]
    if len(keys) < 2:
        return (
            f"Fill between slices needs two contoured slices with empty slices between them; "
            f"this structure is contoured on slice {keys[0] + 1} only."
        )
    if int(np.max(np.diff(keys))) < 2:
        return (
            f"Fill between slices found nothing to fill: all {len(keys)} contoured slices "
            f"({keys[0] + 1}-{keys[-1] + 1}) follow each other. It fills empty slices between contoured "
            "ones: contour every few slices, then fill."
        )
    return "Fill between slices: the contours on either side of the empty slices do not overlap, so nothing fills."


@dataclass
class InterpolateSettings:
    """Interpolation settings.

    Parameters
    ----------
    axis : int
        Axis whose slices are the key slices (0 axial, 1 coronal, 2 sagittal).
    """

    axis: int = 0


class InterpolateTool(Tool):
    """Fill the empty slices between key slices (on click or :meth:`run`)."""

    name: ClassVar[str] = "interpolate"
    label: ClassVar[str] = "Fill between slices"
    shortcut: ClassVar[str] = "6"
    description: ClassVar[str] = "Edit: fill between slices"
    settings_type: ClassVar[type | None] = InterpolateSettings
    apply_text: ClassVar[str] = "Fill the empty slices between key slices of the active view"

    def __init__(self, settings: InterpolateSettings | None = None) -> None:
        super().__init__(settings)
        self.settings: InterpolateSettings

    def run(self) -> bool:
        """Interpolate as one undo step; returns True when slices were filled."""
        ctx = self._require_ctx()
        region = interpolate_region(ctx.mask, self.settings.axis, ctx.spacing_zyx)
        if ctx.apply(region, "add") is not None:
            return True
        self.reason = no_fill_reason(ctx.mask, self.settings.axis)
        return False

    def on_click(self, event: EditEvent) -> bool:
        return self.run()

    def apply(self, cursor: tuple[int, int, int], axis: int) -> bool:
        # the key slices are those of the view the user works in
        self.settings.axis = int(axis)
        return self.run()


TOOLS = (InterpolateTool,)
