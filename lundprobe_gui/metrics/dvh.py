"""Dose-volume histogram (DVH) of a structure.

Every voxel of the mask counts with equal weight (no partial-volume or sub-voxel sampling), with
the dose of its voxel centre as the dose grid holds it; mask and dose must be on the same grid.
Only the mask's bounding box of the dose is read.

Definitions (pinned here and in docs/metrics.md)
-----------------------------------------------
Cumulative curve
    Dose levels ``i * bin_width`` (rounded to 10 decimals) from 0 Gy up to the first level
    above the maximum dose, so the curve starts at 100 % at 0 Gy (for non-negative doses) and
    ends at 0 %; the volume at level ``D`` is the percentage of the
    structure's voxels with dose ``>= D``.
D_x (Gy)
    The dose that at least x % of the volume receives: with the voxel doses sorted in
    decreasing order ``d_(1) >= d_(2) >= ... >= d_(n)``, ``D_x = d_(k)`` with
    ``k = max(1, ceil(x n / 100))``. It is the highest dose ``D`` such that the voxels with dose
    ``>= D`` make up at least x % of the volume; no interpolation, so D_x is always a dose that
    some voxel receives (D_2 is then close to the maximum and D_98 close to the minimum).
V_95, V_100 (%)
    Percentage of the structure's voxels with dose ``>= 0.95 * prescription`` and
    ``>= prescription`` (prescription 42.7 Gy by default).
Empty mask
    Volume 0.0 cc, an empty curve and every other statistic None.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.mask import box_slices
from ..core.patient import LUNDPROBE_PRESCRIPTION_GY
from .crop import MaskLike, ScalarMap, mask_bbox, mask_shape, read_mask
from .overlap import voxel_volume_mm3

logger = logging.getLogger(__name__)

DEFAULT_BIN_WIDTH_GY = 0.01


@dataclass(frozen=True)
class DVHStats:
    """Summary statistics of a DVH; all None (volume 0) for an empty structure.

    Attributes
    ----------
    volume_cc : float
        Structure volume.
    mean_gy, max_gy, min_gy : float or None
        Voxel dose statistics.
    d98_gy, d95_gy, d50_gy, d2_gy : float or None
        D_x, see the module docstring.
    v95_percent, v100_percent : float or None
        % of the volume receiving at least 95 % / 100 % of the prescription.
    prescription_gy : float
        The prescription used for the V values.
    """

    volume_cc: float
    mean_gy: float | None = None
    max_gy: float | None = None
    min_gy: float | None = None
    d98_gy: float | None = None
    d95_gy: float | None = None
    d50_gy: float | None = None
    d2_gy: float | None = None
    v95_percent: float | None = None
    v100_percent: float | None = None
    prescription_gy: float = LUNDPROBE_PRESCRIPTION_GY

    def to_dict(self) -> dict:
        """JSON-ready dictionary of the statistics."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class DVH:
    """A cumulative DVH curve and its statistics.

    Attributes
    ----------
    dose_gy : numpy.ndarray
        Dose levels of the curve.
    volume_percent : numpy.ndarray
        % of the structure's volume receiving at least each level.
    stats : DVHStats
        Summary statistics.
    bin_width_gy : float
        Spacing of the dose levels.
    """

    dose_gy: np.ndarray
    volume_percent: np.ndarray
    stats: DVHStats
    bin_width_gy: float = DEFAULT_BIN_WIDTH_GY


def dose_at_volume(sorted_desc: np.ndarray, percent: float) -> float:
    """D_x of voxel doses sorted in decreasing order: the k-th highest, k = ceil(x n / 100).

    Parameters
    ----------
    sorted_desc : numpy.ndarray
        Non-empty voxel doses, highest first.
    percent : float
        x in [0, 100].

    Returns
    -------
    float
        The dose in Gy.
    """
    n = sorted_desc.size
    if n == 0:
        raise ValueError("dose_at_volume needs at least one voxel")
    # The small slack keeps e.g. 95 * 20 / 100 from rounding up to 20 elements when float
    # arithmetic lands a hair above an exact integer.
    k = max(1, math.ceil(percent * n / 100.0 - 1e-9))
    return float(sorted_desc[min(k, n) - 1])


def volume_at_dose(doses: np.ndarray, level_gy: float) -> float:
    """Percentage of voxels with dose >= ``level_gy`` (0.0 for no voxels)."""
    if doses.size == 0:
        return 0.0
    return 100.0 * float(np.count_nonzero(doses >= level_gy)) / doses.size


def structure_doses(mask: MaskLike, dose: ScalarMap) -> np.ndarray:
    """float64 doses of the voxels of a mask, read from its bounding box only.

    Parameters
    ----------
    mask : numpy.ndarray or Mask
        The structure on the dose grid.
    dose : numpy.ndarray or object with ``read(box)``
        Dose in Gy on the same grid.

    Returns
    -------
    numpy.ndarray
        1-D array, one dose per voxel of the mask (empty for an empty mask).
    """
    if isinstance(dose, np.ndarray) and dose.shape != mask_shape(mask):
        raise ValueError(f"dose grid {dose.shape} differs from the mask grid {mask_shape(mask)}")
    box = mask_bbox(mask)
    if box is None:
        return np.zeros(0, dtype=np.float64)
    inside = read_mask(mask, box)
    # Select the structure's voxels before widening to float64: a BODY box on the full grid is
    # ~50 M voxels, and a float64 copy of all of it would cost ~400 MB for nothing.
    if isinstance(dose, np.ndarray):
        values = dose[box_slices(box)]
    else:
        values = np.asarray(dose.read(box))
        expected = tuple(b - a for a, b in box)
        if values.shape != expected:
            raise ValueError(f"dose read for box {box} has shape {values.shape}, expected {expected}")
    return values[inside].astype(np.float64)


def compute_dvh(
    mask: MaskLike,
    dose: ScalarMap,
    spacing_zyx: Sequence[float],
    prescription_gy: float = LUNDPROBE_PRESCRIPTION_GY,
    bin_width_gy: float = DEFAULT_BIN_WIDTH_GY,
) -> DVH:
    """Cumulative DVH and dose statistics of a structure.

    Parameters
    ----------
    mask : numpy.ndarray or Mask
        The structure, on the dose grid.
    dose : numpy.ndarray or object with ``read(box)``
        Dose in Gy, (z, y, x).
    spacing_zyx : sequence of float
        Voxel spacing in mm, array-axis order (for the volume).
    prescription_gy : float
        Prescription dose for V95 and V100.
    bin_width_gy : float
        Spacing of the dose levels of the curve.

    Returns
    -------
    DVH
        Curve and statistics; see the module docstring for the conventions.
    """
    if bin_width_gy <= 0:
        raise ValueError("bin_width_gy must be positive")
    doses = structure_doses(mask, dose)
    n = doses.size
    volume = n * voxel_volume_mm3(spacing_zyx) / 1000.0
    if n == 0:
        empty = np.zeros(0, dtype=np.float64)
        return DVH(empty, empty.copy(), DVHStats(0.0, prescription_gy=float(prescription_gy)), float(bin_width_gy))

    ascending = np.sort(doses)
    desc = ascending[::-1]
    max_dose = float(ascending[-1])
    # Levels up to one bin past the maximum so the curve always reaches 0 %; a negative dose
    # (not physical, but possible in interpolated maps) still starts the curve at 0 Gy.
    n_levels = max(0, math.floor(max_dose / bin_width_gy)) + 2
    if (n_levels - 1) * bin_width_gy <= max_dose:
        n_levels += 1  # the floor division landed a hair low
    # Rounded so that e.g. level 2500 x 0.01 is exactly 25.0 and a voxel of 25.0 Gy counts at it.
    levels = np.round(np.arange(n_levels, dtype=np.float64) * bin_width_gy, 10)
    at_least = n - np.searchsorted(ascending, levels, side="left")
    percent = 100.0 * at_least / n

    stats = DVHStats(
        volume_cc=volume,
        mean_gy=float(doses.mean()),
        max_gy=max_dose,
        min_gy=float(ascending[0]),
        d98_gy=dose_at_volume(desc, 98.0),
        d95_gy=dose_at_volume(desc, 95.0),
        d50_gy=dose_at_volume(desc, 50.0),
        d2_gy=dose_at_volume(desc, 2.0),
        v95_percent=volume_at_dose(doses, 0.95 * prescription_gy),
        v100_percent=volume_at_dose(doses, prescription_gy),
        prescription_gy=float(prescription_gy),
    )
    logger.debug("DVH of %d voxels: mean %.3f Gy, max %.3f Gy", n, stats.mean_gy, max_dose)
    return DVH(levels, percent, stats, float(bin_width_gy))
