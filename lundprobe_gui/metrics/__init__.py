"""Qt-free contour metrics: overlap, surface distances, path length, DVH and edit statistics.

Masks are (z, y, x) numpy arrays (non-zero is inside) or :class:`lundprobe_gui.core.mask.Mask`
objects, with the spacing given as ``spacing_zyx`` in mm. Every metric works on the union of the
two masks' bounding boxes plus a margin, never on the full grid. The exact definitions are in
the module docstrings and in docs/metrics.md.
"""

from __future__ import annotations

from .crop import CroppedPair, MaskLike, ScalarMap, crop_pair, read_mask, read_values
from .dvh import DVH, DVHStats, compute_dvh, dose_at_volume, structure_doses, volume_at_dose
from .overlap import centroid_shift_mm, dice, jaccard, volume_cc
from .pair import PAIR_METRIC_KEYS, pair_metrics
from .path_length import PathLength, added_path_length, slice_path_lengths
from .surface import SurfaceDistances, hausdorff_mm, mean_surface_distance_mm, surface_dice, surface_distances
from .uncertainty_edits import EditUncertaintyHistogram, UncertaintyBin, edit_uncertainty_histogram

__all__ = [
    "DVH",
    "PAIR_METRIC_KEYS",
    "CroppedPair",
    "DVHStats",
    "EditUncertaintyHistogram",
    "MaskLike",
    "PathLength",
    "ScalarMap",
    "SurfaceDistances",
    "UncertaintyBin",
    "added_path_length",
    "centroid_shift_mm",
    "compute_dvh",
    "crop_pair",
    "dice",
    "dose_at_volume",
    "edit_uncertainty_histogram",
    "hausdorff_mm",
    "jaccard",
    "mean_surface_distance_mm",
    "pair_metrics",
    "read_mask",
    "read_values",
    "slice_path_lengths",
    "structure_doses",
    "surface_dice",
    "surface_distances",
    "volume_at_dose",
    "volume_cc",
]
