"""Voxel-overlap metrics: Dice, Jaccard, volume and centroid shift.

Definitions
-----------
Dice = 2 |A ∩ B| / (|A| + |B|) and Jaccard = |A ∩ B| / |A ∪ B|, counted in voxels. When both
masks are empty the two agree perfectly and both are 1.0; when exactly one is empty both are 0.0.

Volume (cc) = voxel count x voxel volume, the voxel volume being the product of the spacings in
mm^3, divided by 1000.

Centroid shift (mm) = Euclidean distance between the two centroids, a centroid being the mean of
the voxel-centre indices multiplied by the spacing (so the grid origin cancels out). None when
either mask is empty.
"""  # noqa: RUF002 - the set symbols are the formulas' own notation

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from ..core.mask import Mask
from .crop import CroppedPair, MaskLike, crop_pair

logger = logging.getLogger(__name__)


def voxel_volume_mm3(spacing_zyx: Sequence[float]) -> float:
    """Volume of one voxel in mm^3."""
    return float(np.prod(np.asarray(spacing_zyx, dtype=np.float64)))


def overlap_from_crop(pair: CroppedPair) -> tuple[float, float]:
    """Dice and Jaccard of an already cropped pair (see the module docstring for empty masks)."""
    n_ref = int(np.count_nonzero(pair.reference))
    n_test = int(np.count_nonzero(pair.test))
    if n_ref == 0 and n_test == 0:
        return 1.0, 1.0
    if n_ref == 0 or n_test == 0:
        return 0.0, 0.0
    inter = int(np.count_nonzero(pair.reference & pair.test))
    union = n_ref + n_test - inter
    return 2.0 * inter / (n_ref + n_test), inter / union


def dice(reference: MaskLike, test: MaskLike) -> float:
    """Volumetric Dice coefficient.

    Parameters
    ----------
    reference, test : numpy.ndarray or Mask
        Masks on the same (z, y, x) grid.

    Returns
    -------
    float
        In [0, 1]; 1.0 when both are empty, 0.0 when exactly one is.
    """
    return overlap_from_crop(crop_pair(reference, test))[0]


def jaccard(reference: MaskLike, test: MaskLike) -> float:
    """Jaccard index (intersection over union), with the same empty-mask rules as :func:`dice`."""
    return overlap_from_crop(crop_pair(reference, test))[1]


def volume_cc(mask: MaskLike, spacing_zyx: Sequence[float]) -> float:
    """Volume of a mask in cubic centimetres.

    Parameters
    ----------
    mask : numpy.ndarray or Mask
        The mask (a cropped block works too: only the voxel count matters).
    spacing_zyx : sequence of float
        Voxel spacing in mm, array-axis order.

    Returns
    -------
    float
        Voxel count x voxel volume / 1000.
    """
    count = mask.count() if isinstance(mask, Mask) else int(np.count_nonzero(mask))
    return count * voxel_volume_mm3(spacing_zyx) / 1000.0


def centroid_mm(block: np.ndarray, origin: Sequence[int], spacing_zyx: Sequence[float]) -> np.ndarray | None:
    """Centroid (z, y, x) in mm of a boolean block placed at ``origin`` in the full grid.

    Returns None for an empty block.
    """
    idx = np.nonzero(block)
    if idx[0].size == 0:
        return None
    centre = np.array([axis.mean() for axis in idx], dtype=np.float64)
    return (centre + np.asarray(origin, dtype=np.float64)) * np.asarray(spacing_zyx, dtype=np.float64)


def centroid_shift_from_crop(pair: CroppedPair, spacing_zyx: Sequence[float]) -> float | None:
    """Distance in mm between the centroids of an already cropped pair; None if either is empty."""
    if pair.empty:
        return None
    a = centroid_mm(pair.reference, pair.origin, spacing_zyx)
    b = centroid_mm(pair.test, pair.origin, spacing_zyx)
    if a is None or b is None:
        return None
    return float(math.sqrt(float(np.sum((a - b) ** 2))))


def centroid_shift_mm(reference: MaskLike, test: MaskLike, spacing_zyx: Sequence[float]) -> float | None:
    """Distance between the centroids of two masks.

    Parameters
    ----------
    reference, test : numpy.ndarray or Mask
        Masks on the same (z, y, x) grid.
    spacing_zyx : sequence of float
        Voxel spacing in mm, array-axis order.

    Returns
    -------
    float or None
        The shift in mm, or None when either mask is empty.
    """
    return centroid_shift_from_crop(crop_pair(reference, test), spacing_zyx)
