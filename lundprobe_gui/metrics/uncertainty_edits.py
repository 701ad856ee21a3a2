"""Where observers edit a deep-learning contour, binned by the model's uncertainty.

This is the histogram of the LUND-PROBE reader study: the voxels an observer changed in a DL
mask, counted per bin of the DL uncertainty map, next to the number of voxels in each bin, so
that the fraction of edited voxels can be plotted against the uncertainty.

Definitions (pinned here and in docs/metrics.md)
-----------------------------------------------
* Edited voxels are relative to the DL mask: *added* = in the edited mask but not in the DL
  mask, *removed* = in the DL mask but not in the edited mask, *edited* = added + removed.
* Bins are ``[k w, (k + 1) w)`` for ``k = 0 .. n - 1`` with ``w = 0.05`` and ``n w = 0.5`` by
  default; the last bin also takes every value ``>= 0.5``. Values are compared against the bin
  edges ``k w`` rounded to 12 decimals, so 0.15 falls in [0.15, 0.20) despite binary floats.
* The considered region ("total") is every voxel where the uncertainty is ``> 0`` **or** that
  was edited. Edited voxels outside the uncertainty support (uncertainty 0, or NaN which is
  read as 0) fall in the first bin. Voxels with zero uncertainty that were not edited are not
  counted, so the first bin is not swamped by the background of the whole volume.
* ``fraction_edited = edited / total`` per bin, None for a bin with no voxel.

Only the box holding the two masks and the uncertainty support is read, never the full grid
(unless the uncertainty map is an object that cannot tell its support; see
:func:`edit_uncertainty_histogram`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import cast

import numpy as np

from ..core.mask import Box, bbox_of, clip_box
from .crop import MaskLike, ScalarMap, mask_bbox, mask_shape, padded_union_box, read_mask, read_values

logger = logging.getLogger(__name__)

DEFAULT_BIN_WIDTH = 0.05
DEFAULT_MAX_UNCERTAINTY = 0.5


@dataclass(frozen=True)
class UncertaintyBin:
    """Counts of one uncertainty bin.

    Attributes
    ----------
    bin_low, bin_high : float
        Bin edges; the bin is [low, high), the last one also holding values >= high.
    edited_voxels, added_voxels, removed_voxels : int
        Edited voxels (added + removed) whose uncertainty falls in the bin.
    total_voxels : int
        Voxels of the considered region (uncertainty > 0 or edited) in the bin.
    fraction_edited : float or None
        ``edited_voxels / total_voxels``, None when the bin is empty.
    """

    bin_low: float
    bin_high: float
    edited_voxels: int
    added_voxels: int
    removed_voxels: int
    total_voxels: int
    fraction_edited: float | None

    def to_dict(self) -> dict:
        """JSON-ready dictionary."""
        return asdict(self)


@dataclass(frozen=True)
class EditUncertaintyHistogram:
    """Edited voxels binned by DL uncertainty.

    Attributes
    ----------
    bins : tuple of UncertaintyBin
        One entry per bin, lowest uncertainty first.
    """

    bins: tuple[UncertaintyBin, ...]

    @property
    def edited_voxels(self) -> int:
        """All edited voxels."""
        return sum(b.edited_voxels for b in self.bins)

    @property
    def total_voxels(self) -> int:
        """All voxels of the considered region."""
        return sum(b.total_voxels for b in self.bins)

    def to_rows(self) -> list[dict]:
        """One JSON-ready dictionary per bin."""
        return [b.to_dict() for b in self.bins]


def bin_edges(bin_width: float = DEFAULT_BIN_WIDTH, max_uncertainty: float = DEFAULT_MAX_UNCERTAINTY) -> np.ndarray:
    """Edges 0, w, 2w, ..., max of the uncertainty bins (rounded to 12 decimals).

    Parameters
    ----------
    bin_width : float
        Width of a bin.
    max_uncertainty : float
        Upper edge of the last bin; must be a whole number of bin widths.
    """
    if bin_width <= 0 or max_uncertainty <= 0:
        raise ValueError("bin_width and max_uncertainty must be positive")
    n = int(round(max_uncertainty / bin_width))
    if n < 1 or abs(n * bin_width - max_uncertainty) > 1e-9:
        raise ValueError(f"max_uncertainty {max_uncertainty} is not a multiple of bin_width {bin_width}")
    return np.round(np.arange(n + 1, dtype=np.float64) * bin_width, 12)


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of every value: [edge_k, edge_k+1), clamped to the first and last bins."""
    idx = np.searchsorted(edges, values, side="right") - 1
    return np.clip(idx, 0, edges.size - 2)


def support_box_of(uncertainty: ScalarMap, shape: tuple[int, int, int]) -> Box | None:
    """A box holding every voxel where the uncertainty may be non-zero."""
    if isinstance(uncertainty, np.ndarray):
        if uncertainty.shape != shape:
            raise ValueError(f"uncertainty grid {uncertainty.shape} differs from the mask grid {shape}")
        return bbox_of(uncertainty)
    if hasattr(uncertainty, "box"):
        # A cropped Volume keeps every non-zero voxel in its stored block (None: all zero).
        return uncertainty.box
    logger.debug("uncertainty map %r cannot tell its support; reading the full grid", uncertainty)
    return cast(Box, tuple((0, n) for n in shape))


def edit_blocks(
    dl: MaskLike, edited: MaskLike, uncertainty: ScalarMap, support_box: Box | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(added, removed, uncertainty)`` in the box holding both masks and the uncertainty support.

    NaN uncertainty is read as 0. None when the masks are empty and the map is zero everywhere.

    Raises
    ------
    ValueError
        When the two masks are on different grids.
    """
    shape = mask_shape(dl)
    if mask_shape(edited) != shape:
        raise ValueError(f"masks are on different grids: {shape} vs {mask_shape(edited)}")
    if support_box is None:
        support_box = support_box_of(uncertainty, shape)
    box = padded_union_box([mask_bbox(dl), mask_bbox(edited), support_box], 0)
    box = clip_box(box, shape) if box is not None else None
    if box is None:
        return None
    dl_block = read_mask(dl, box)
    ed_block = read_mask(edited, box)
    unc = np.nan_to_num(read_values(uncertainty, box), nan=0.0)
    return ed_block & ~dl_block, dl_block & ~ed_block, unc


@dataclass(frozen=True)
class EditSplit:
    """Edited voxels of a DL mask split at an uncertainty threshold, exact zeros apart.

    Attributes
    ----------
    threshold : float
        ``u`` below it is *low*.
    edited_zero, edited_low, edited_high : int
        Edited voxels (added + removed) where ``u == 0`` exactly (NaN counts as 0), ``0 < u < threshold``
        and ``u >= threshold``.
    total_zero, total_low, total_high : int
        Voxels of the considered region (``u > 0`` or edited) in the same three parts; ``total_zero``
        is the edited voxels at zero, since unedited voxels of zero uncertainty are not counted.
    """

    threshold: float
    edited_zero: int
    edited_low: int
    edited_high: int
    total_zero: int
    total_low: int
    total_high: int

    @property
    def edited(self) -> int:
        """Every edited voxel, counted once."""
        return self.edited_zero + self.edited_low + self.edited_high

    def to_dict(self) -> dict:
        """JSON-ready form, with ``edited_voxels``."""
        return {**asdict(self), "edited_voxels": self.edited}


def edit_uncertainty_split(
    dl: MaskLike, edited: MaskLike, uncertainty: ScalarMap, threshold: float, support_box: Box | None = None
) -> EditSplit:
    """Edited voxels at zero, low (``0 < u < threshold``) and high uncertainty (see :class:`EditSplit`).

    Parameters
    ----------
    dl, edited : numpy.ndarray or Mask
        The DL mask and the observer's mask, same grid.
    uncertainty : numpy.ndarray or object with ``read(box)``
        The DL uncertainty map (see :func:`edit_uncertainty_histogram`).
    threshold : float
        The low-uncertainty threshold (> 0).
    support_box : Box, optional
        As in :func:`edit_uncertainty_histogram`.
    """
    if not threshold > 0:
        raise ValueError("the low-uncertainty threshold must be > 0")
    blocks = edit_blocks(dl, edited, uncertainty, support_box)
    if blocks is None:
        return EditSplit(float(threshold), 0, 0, 0, 0, 0, 0)
    added, removed, unc = blocks
    changed = added | removed
    zero, high = unc == 0, unc >= threshold
    low = ~zero & ~high
    region = (unc > 0) | changed
    return EditSplit(
        float(threshold),
        int(np.count_nonzero(changed & zero)),
        int(np.count_nonzero(changed & low)),
        int(np.count_nonzero(changed & high)),
        int(np.count_nonzero(region & zero)),
        int(np.count_nonzero(region & low)),
        int(np.count_nonzero(region & high)),
    )


def edit_uncertainty_histogram(
    dl: MaskLike,
    edited: MaskLike,
    uncertainty: ScalarMap,
    bin_width: float = DEFAULT_BIN_WIDTH,
    max_uncertainty: float = DEFAULT_MAX_UNCERTAINTY,
    support_box: Box | None = None,
) -> EditUncertaintyHistogram:
    """Edited voxels of a DL mask binned by the DL uncertainty.

    Parameters
    ----------
    dl : numpy.ndarray or Mask
        The deep-learning mask as proposed.
    edited : numpy.ndarray or Mask
        The observer's corrected mask, same grid.
    uncertainty : numpy.ndarray or object with ``read(box)``
        The DL uncertainty map (0 .. 0.5), same grid. For an object, a ``box`` attribute (as on
        a cropped ``Volume``) is taken as the block outside which the map is zero; without one
        the full grid is read unless ``support_box`` is given.
    bin_width : float
        Width of the bins (0.05).
    max_uncertainty : float
        Upper edge of the last bin (0.5); larger values go in the last bin.
    support_box : Box, optional
        A box known to hold every voxel with uncertainty > 0, overriding the above.

    Returns
    -------
    EditUncertaintyHistogram
        Per-bin counts; see the module docstring for the region counted as "total".
    """
    edges = bin_edges(bin_width, max_uncertainty)
    n_bins = edges.size - 1
    edited_n = added_n = removed_n = total_n = np.zeros(n_bins, dtype=np.int64)
    blocks = edit_blocks(dl, edited, uncertainty, support_box)
    if blocks is not None:
        added, removed, unc = blocks
        region = (unc > 0) | added | removed
        # Edited voxels are part of the region by construction, so the three counts share bins.
        total_n = np.bincount(bin_index(unc[region], edges), minlength=n_bins)
        added_n = np.bincount(bin_index(unc[added], edges), minlength=n_bins)
        removed_n = np.bincount(bin_index(unc[removed], edges), minlength=n_bins)
        edited_n = added_n + removed_n

    bins = tuple(
        UncertaintyBin(
            bin_low=float(edges[k]),
            bin_high=float(edges[k + 1]),
            edited_voxels=int(edited_n[k]),
            added_voxels=int(added_n[k]),
            removed_voxels=int(removed_n[k]),
            total_voxels=int(total_n[k]),
            fraction_edited=(float(edited_n[k]) / float(total_n[k])) if total_n[k] else None,
        )
        for k in range(n_bins)
    )
    return EditUncertaintyHistogram(bins)
