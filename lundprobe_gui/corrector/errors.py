"""Where the next error is: the one thing the simulated user learns from the target.

Error voxels are those of the target missing from the mask ("add") and those of the mask outside
the target ("remove"). A voxel of a missing region farther than the tolerance from the mask, or of
an extra region farther than the tolerance from the target, is *significant*: it is what keeps the
surface Dice at that tolerance down. The next error is the connected region (26-connectivity,
each kind apart) with the most significant voxels (the largest region when none has any). The user
works on its axial slice with the most significant voxels, on the 2-D piece of the region there
that holds most of them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..core.mask import Mask

logger = logging.getLogger(__name__)

_FULL = np.ones((3, 3, 3), bool)
_PLANE = np.ones((3, 3), bool)


@dataclass(frozen=True)
class ErrorSpot:
    """The error the user fixes next.

    Attributes
    ----------
    kind : {"add", "remove"}
        Whether the structure must grow or shrink there.
    region : numpy.ndarray
        Boolean (crop-sized) array of the 3-D error region.
    significant : numpy.ndarray
        Its significant voxels (may be empty).
    deepest : tuple of int
        The region's voxel farthest from where the boundary is now.
    z : int
        The axial slice the user works on.
    piece : numpy.ndarray
        Boolean (y, x) array: the part of the region on slice ``z`` the user fixes.
    """

    kind: str
    region: np.ndarray
    significant: np.ndarray
    deepest: tuple[int, int, int]
    z: int
    piece: np.ndarray


class ErrorFinder:
    """Finds the next error of a mask against a fixed target (the target's distance map is kept)."""

    def __init__(self, target: Mask, spacing_zyx: Sequence[float], tolerance_mm: float = 2.0) -> None:
        self.target = target.to_full()
        self.spacing = tuple(float(s) for s in spacing_zyx)
        self.tolerance = float(tolerance_mm)
        self._to_target = ndimage.distance_transform_edt(~self.target, sampling=self.spacing)

    def next_error(self, mask: Mask) -> ErrorSpot | None:
        """The largest remaining error region, or None when mask and target are equal."""
        cur = mask.to_full()
        add = self.target & ~cur
        remove = cur & ~self.target
        if not add.any() and not remove.any():
            return None
        to_mask = ndimage.distance_transform_edt(~cur, sampling=self.spacing) if add.any() else None
        best: tuple[int, int, str, np.ndarray, np.ndarray, np.ndarray] | None = None
        for kind, err, dist in (("add", add, to_mask), ("remove", remove, self._to_target)):
            if not err.any() or dist is None:  # no distance map only when nothing is to be added
                continue
            labels, n = ndimage.label(err, structure=_FULL)
            sig = err & (dist > self.tolerance)
            sig_counts = np.bincount(labels[sig], minlength=n + 1)
            counts = np.bincount(labels.ravel(), minlength=n + 1)
            sig_counts[0] = counts[0] = 0
            i = int(np.argmax(sig_counts)) if sig_counts.any() else int(np.argmax(counts))
            score = (int(sig_counts[i]), int(counts[i]))
            if best is None or score > best[:2]:
                region = labels == i
                best = (score[0], score[1], kind, region, region & sig, dist)
        assert best is not None
        _, _, kind, region, significant, dist = best
        deepest = np.unravel_index(int(np.argmax(np.where(region, dist, -1.0))), region.shape)
        weight = significant if significant.any() else region
        z = int(np.argmax(weight.sum(axis=(1, 2))))
        plane_labels, _ = ndimage.label(region[z], structure=_PLANE)
        votes = np.bincount(plane_labels[weight[z]], minlength=plane_labels.max() + 1)
        votes[0] = 0
        piece = plane_labels == int(np.argmax(votes)) if votes.any() else region[z]
        return ErrorSpot(kind, region, significant, tuple(int(v) for v in deepest), z, piece)  # type: ignore[arg-type]
