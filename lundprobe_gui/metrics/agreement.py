"""Agreement among observers of one structure in one step: STAPLE consensus and voxel-wise variability.

Definitions (pinned here and in docs/metrics.md)
-----------------------------------------------
* **Box.** Everything is computed in the box holding every observer mask, the DL mask and the DL
  uncertainty support, grown by one voxel.
* **STAPLE** (Warfield et al. 2004) is SimpleITK's ``STAPLEImageFilter`` on the observers' binary
  masks (foreground 1, one thread so that every run gives the same bits). The consensus is the
  voxels whose STAPLE probability is >= 0.5. Each observer's sensitivity and specificity are
  STAPLE's estimates; the specificity counts the voxels of the box only.
* **Variability.** With ``p`` the fraction of the ``n`` observers that put a voxel inside, the
  voxel-wise inter-observer variability is the Bernoulli variance ``p (1 - p)``: 0 where all
  agree, 0.25 at an even split.
* **Region.** Voxels where the DL uncertainty is > 0 or any observer put the voxel inside (the
  rule of the uncertainty-edits histogram). The correlation of variability with the DL
  uncertainty is taken over the region (Spearman's rho and Pearson's r, :mod:`scipy.stats`).
* Variability is also summed per uncertainty bin (the bins of the uncertainty-edits histogram).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from ..core.mask import Box
from .crop import MaskLike, ScalarMap, mask_bbox, mask_shape, padded_union_box, read_mask, read_values
from .overlap import voxel_volume_mm3
from .uncertainty_edits import DEFAULT_BIN_WIDTH, DEFAULT_MAX_UNCERTAINTY, bin_edges, bin_index, support_box_of

logger = logging.getLogger(__name__)

CONSENSUS_LEVEL = 0.5


@dataclass
class ObserverAgreement:
    """STAPLE and variability of one structure in one step.

    Attributes
    ----------
    names : list of str
        The observers (in the order given).
    sensitivity, specificity : list of float
        STAPLE's estimates per observer.
    dice_vs_consensus : list of float
        Dice of each observer with the consensus.
    volume_cc : list of float
        Each observer's volume.
    consensus_volume_cc : float
        Volume of the consensus.
    dl_dice_vs_consensus : float or None
        Dice of the DL mask with the consensus (None without a DL mask).
    region_voxels : int
        Voxels of the region.
    mean_variability : float or None
        Mean variability over the region.
    spearman_rho, spearman_p, pearson_r : float or None
        Correlation of variability with the DL uncertainty over the region (None when either is
        constant there, or without a map).
    bins : list of dict
        Per uncertainty bin: ``bin_low, bin_high, voxels, variability_sum, disagreement_voxels``.
    maps : dict or None
        With ``keep_maps``: ``origin`` (z, y, x of the box), ``variability``, ``uncertainty``,
        ``consensus`` blocks.
    """

    names: list[str]
    sensitivity: list[float]
    specificity: list[float]
    dice_vs_consensus: list[float]
    volume_cc: list[float]
    consensus_volume_cc: float
    dl_dice_vs_consensus: float | None
    region_voxels: int
    mean_variability: float | None
    spearman_rho: float | None
    spearman_p: float | None
    pearson_r: float | None
    bins: list[dict]
    maps: dict | None = None


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = int(np.count_nonzero(a)), int(np.count_nonzero(b))
    if na + nb == 0:
        return 1.0
    return 2.0 * int(np.count_nonzero(a & b)) / (na + nb)


def staple(blocks: Sequence[np.ndarray]) -> tuple[np.ndarray, list[float], list[float]]:
    """SimpleITK STAPLE of binary blocks: (probability block, sensitivities, specificities)."""
    import SimpleITK as sitk

    images = [sitk.GetImageFromArray(np.ascontiguousarray(b, dtype=np.uint8)) for b in blocks]
    f = sitk.STAPLEImageFilter()
    f.SetForegroundValue(1.0)
    f.SetNumberOfThreads(1)  # a multi-threaded sum may round differently from run to run
    prob = f.Execute(images)
    return sitk.GetArrayFromImage(prob), [float(x) for x in f.GetSensitivity()], [float(x) for x in f.GetSpecificity()]


def _finite(x: float) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _correlations(v: np.ndarray, u: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """(Spearman rho, its p-value, Pearson r); None where an input is constant or too short."""
    from scipy import stats

    if v.size < 3 or np.all(v == v[0]) or np.all(u == u[0]):
        return None, None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sp = stats.spearmanr(v, u)
        pr = stats.pearsonr(v, u)
    return _finite(sp.statistic), _finite(sp.pvalue), _finite(pr.statistic)


def observer_agreement(
    masks: Mapping[str, MaskLike],
    spacing_zyx: Sequence[float],
    uncertainty: ScalarMap | None = None,
    dl: MaskLike | None = None,
    bin_width: float = DEFAULT_BIN_WIDTH,
    max_uncertainty: float = DEFAULT_MAX_UNCERTAINTY,
    keep_maps: bool = False,
) -> ObserverAgreement:
    """STAPLE and variability of two or more observer masks (see the module docstring).

    Parameters
    ----------
    masks : mapping of str to numpy.ndarray or Mask
        The observers' masks of one structure in one step, same grid (at least two).
    spacing_zyx : sequence of float
        Voxel spacing (mm).
    uncertainty : numpy.ndarray or object with ``read(box)``, optional
        The DL uncertainty map (same grid).
    dl : numpy.ndarray or Mask, optional
        The DL mask.
    bin_width, max_uncertainty : float
        The uncertainty bins.
    keep_maps : bool
        Also return the blocks (for a figure).

    Returns
    -------
    ObserverAgreement
    """
    if len(masks) < 2:
        raise ValueError("agreement needs at least two observers")
    names = list(masks)
    shape = mask_shape(masks[names[0]])
    if any(mask_shape(m) != shape for m in masks.values()) or (dl is not None and mask_shape(dl) != shape):
        raise ValueError("the masks are on different grids")
    boxes = [mask_bbox(m) for m in masks.values()]
    if dl is not None:
        boxes.append(mask_bbox(dl))
    if uncertainty is not None:
        boxes.append(support_box_of(uncertainty, shape))
    box = padded_union_box(boxes, 1) or ((0, 1), (0, 1), (0, 1))
    # the box may reach past the grid by the margin: read_mask pads with zeros, the map is read inside
    inner = cast(Box, tuple((max(a, 0), min(b, n)) for (a, b), n in zip(box, shape)))
    blocks = [read_mask(masks[n], box) for n in names]
    unc = np.zeros(blocks[0].shape, dtype=np.float64)
    if uncertainty is not None:
        sl = tuple(slice(i0 - b0, i1 - b0) for (b0, _), (i0, i1) in zip(box, inner))
        unc[sl] = np.nan_to_num(read_values(uncertainty, inner), nan=0.0)
    prob, sens, spec = staple(blocks)
    consensus = prob >= CONSENSUS_LEVEL
    voxel_cc = voxel_volume_mm3(spacing_zyx) / 1000.0
    stack = np.stack(blocks)
    p = stack.mean(axis=0)
    var = p * (1.0 - p)
    region = (unc > 0) | stack.any(axis=0)
    v, u = var[region], unc[region]
    rho, rho_p, r = _correlations(v, u) if uncertainty is not None else (None, None, None)
    edges = bin_edges(bin_width, max_uncertainty)
    idx = bin_index(u, edges)
    n_bins = edges.size - 1
    counts = np.bincount(idx, minlength=n_bins)
    vsum = np.bincount(idx, weights=v, minlength=n_bins)
    dis = np.bincount(idx[v > 0], minlength=n_bins)
    bins = [
        {
            "bin_low": float(edges[k]),
            "bin_high": float(edges[k + 1]),
            "voxels": int(counts[k]),
            "variability_sum": float(vsum[k]),
            "disagreement_voxels": int(dis[k]),
        }
        for k in range(n_bins)
    ]
    maps = None
    if keep_maps:
        maps = {"origin": tuple(b[0] for b in box), "variability": var, "uncertainty": unc, "consensus": consensus}
    return ObserverAgreement(
        names,
        sens,
        spec,
        [_dice(b, consensus) for b in blocks],
        [int(np.count_nonzero(b)) * voxel_cc for b in blocks],
        int(np.count_nonzero(consensus)) * voxel_cc,
        _dice(read_mask(dl, box), consensus) if dl is not None else None,
        int(v.size),
        float(v.mean()) if v.size else None,
        rho,
        rho_p,
        r,
        bins,
        maps,
    )
