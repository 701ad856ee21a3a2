"""Many pairs among the same masks: :func:`~lundprobe_gui.metrics.pair.pair_metrics` with shared work.

The comparison set of a LUND-PROBE structure has 43 pairs among 23 masks (DL, 10 folds, clinical,
4 observers x 2 steps). Computed pair by pair, every pair runs two 3-D distance transforms and two
per-slice distance transforms, i.e. each mask's distance map is recomputed about four times. A
:class:`MaskGroup` cuts all the masks to one common box (the union of their bounding boxes plus
a margin, padded like :func:`~lundprobe_gui.metrics.crop.crop_pair`) and computes each mask's
surface elements, its distance map and its per-slice contour distance maps once; a pair then only
looks values up.

The numbers are those of ``pair_metrics(a, b, ...)``: the same surfels with the same areas, the
same distances (an exact Euclidean distance transform does not depend on how far the box extends
beyond the features), sorted and summed in the same order. The only possible differences are in
the last bits of floating-point rounding: the centroid is averaged in another box, and two
nearest features at exactly the same real distance may round differently. The tests hold the
group to ``pair_metrics`` within 1e-12.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .crop import MaskLike, mask_bbox, mask_shape, padded_union_box, read_mask
from .overlap import centroid_mm, voxel_volume_mm3
from .path_length import _edge_grid, _edge_lengths
from .surface import SurfaceDistances, _sorted
from .surfel_table import FULL_CODE, neighbour_codes, surfel_area_table

logger = logging.getLogger(__name__)


@dataclass
class _MaskData:
    """One mask in the common block, with what the pairs need, computed on first use."""

    block: np.ndarray
    count: int
    border: np.ndarray | None = None
    areas: np.ndarray | None = None
    distance: np.ndarray | None = None
    centroid: np.ndarray | None = None
    edges: dict[int, np.ndarray] = field(default_factory=dict)
    far: dict[tuple[int, float], np.ndarray] = field(default_factory=dict)


class MaskGroup:
    """Named masks of one structure on one grid, ready for any number of pair metrics.

    Parameters
    ----------
    masks : mapping of str to numpy.ndarray or Mask
        Masks by name (e.g. source), all on the same (z, y, x) grid.
    spacing_zyx : sequence of float
        Voxel spacing in mm, array-axis order.
    margin : int
        Background voxels around the union of the masks (at least 1, as in ``crop_pair``).

    Examples
    --------
    >>> group = MaskGroup({"nnUNet": dl, "step1_obsB": obs}, spacing)   # doctest: +SKIP
    >>> group.pair_metrics("nnUNet", "step1_obsB")                      # doctest: +SKIP
    """

    def __init__(self, masks: Mapping[str, MaskLike], spacing_zyx: Sequence[float], margin: int = 1) -> None:
        if margin < 1:
            raise ValueError("margin must be at least 1 voxel")
        if not masks:
            raise ValueError("a mask group needs at least one mask")
        self.spacing = tuple(float(s) for s in spacing_zyx)
        if len(self.spacing) != 3:
            raise ValueError(f"spacing_zyx must have 3 values, got {spacing_zyx!r}")
        shapes = {name: mask_shape(m) for name, m in masks.items()}
        self.grid_shape = next(iter(shapes.values()))
        if any(s != self.grid_shape for s in shapes.values()):
            raise ValueError(f"masks are on different grids: {shapes}")
        box = padded_union_box([mask_bbox(m) for m in masks.values()], margin)
        if box is None:  # every mask is empty: a one-voxel background block keeps the code uniform
            box = ((0, 1), (0, 1), (0, 1))
        self.origin = (box[0][0], box[1][0], box[2][0])
        self._data = {}
        for name, m in masks.items():
            block = read_mask(m, box)
            self._data[name] = _MaskData(block, int(np.count_nonzero(block)))
        self._slice_boxes: dict[int, tuple[slice, slice]] = {}
        logger.debug("mask group of %d masks on a %s block", len(self._data), tuple(b - a for a, b in box))

    @property
    def names(self) -> list[str]:
        """The mask names."""
        return list(self._data)

    # -- per-mask data -------------------------------------------------------------------------
    def _surface(self, d: _MaskData) -> tuple[np.ndarray, np.ndarray]:
        """The mask's border voxels and their surface areas: (border, areas)."""
        if d.border is None or d.areas is None:
            codes = neighbour_codes(d.block)
            d.border = (codes != 0) & (codes != FULL_CODE)
            d.areas = surfel_area_table(self.spacing)[codes[d.border]]
        return d.border, d.areas

    def _distance(self, d: _MaskData) -> np.ndarray:
        """Distance (mm) of every corner point of the block to this mask's surface."""
        if d.distance is None:
            border, _ = self._surface(d)
            d.distance = ndimage.distance_transform_edt(~border, sampling=self.spacing)
        return d.distance

    def _slice_box(self, z: int) -> tuple[slice, slice]:
        """In-plane box of slice ``z`` holding every mask of the group, plus one pixel."""
        box = self._slice_boxes.get(z)
        if box is None:
            either = np.zeros(self._shape2d(), dtype=bool)
            for d in self._data.values():
                either |= d.block[z]
            rows = np.flatnonzero(either.any(axis=1))
            cols = np.flatnonzero(either.any(axis=0))
            ny, nx = either.shape
            box = (
                slice(max(int(rows[0]) - 1, 0), min(int(rows[-1]) + 2, ny)),
                slice(max(int(cols[0]) - 1, 0), min(int(cols[-1]) + 2, nx)),
            )
            self._slice_boxes[z] = box
        return box

    def _shape2d(self) -> tuple[int, int]:
        block = next(iter(self._data.values())).block
        return block.shape[1], block.shape[2]

    def _edges(self, d: _MaskData, z: int) -> np.ndarray:
        e = d.edges.get(z)
        if e is None:
            e = d.edges[z] = _edge_grid(d.block[z][self._slice_box(z)])
        return e

    def _far(self, d: _MaskData, z: int, tolerance_mm: float, half: tuple[float, float]) -> np.ndarray:
        """Half-pixel grid points of slice ``z`` farther than the tolerance from this mask's contour."""
        key = (z, tolerance_mm)
        f = d.far.get(key)
        if f is None:
            dist = ndimage.distance_transform_edt(~self._edges(d, z), sampling=half)
            f = d.far[key] = dist > tolerance_mm
        return f

    # -- pair ----------------------------------------------------------------------------------
    def surface_distances(self, reference: str, test: str) -> SurfaceDistances:
        """As :func:`~lundprobe_gui.metrics.surface.surface_distances` of the two masks."""
        r, t = self._data[reference], self._data[test]
        r_border, r_areas = self._surface(r)
        t_border, t_areas = self._surface(t)
        if r_border.any() and t_border.any():
            d_ref = self._distance(t)[r_border]
            d_test = self._distance(r)[t_border]
        else:
            d_ref = np.full(r_areas.shape, np.inf)
            d_test = np.full(t_areas.shape, np.inf)
        d_ref, a_ref = _sorted(d_ref, r_areas)
        d_test, a_test = _sorted(d_test, t_areas)
        return SurfaceDistances(d_ref, a_ref, d_test, a_test)

    def path_lengths(self, reference: str, test: str, tolerance_mm: float = 1.0) -> tuple[float, float]:
        """(APL, FNPL) as :func:`~lundprobe_gui.metrics.path_length.added_path_length` gives them."""
        r, t = self._data[reference], self._data[test]
        sy, sx = self.spacing[1], self.spacing[2]
        half = (sy / 2.0, sx / 2.0)
        present = np.flatnonzero(r.block.any(axis=(1, 2)) | t.block.any(axis=(1, 2)))
        apl_by, fnpl_by = [], []
        for z in present.tolist():
            re, te = self._edges(r, z), self._edges(t, z)
            lengths = _edge_lengths(re.shape, (sy, sx))
            apl_by.append(self._far_length(te, re, r, z, lengths, half, tolerance_mm))
            fnpl_by.append(self._far_length(re, te, t, z, lengths, half, tolerance_mm))
        return float(sum(apl_by)), float(sum(fnpl_by))

    def _far_length(
        self,
        edges: np.ndarray,
        other_edges: np.ndarray,
        other: _MaskData,
        z: int,
        lengths: np.ndarray,
        half: tuple[float, float],
        tolerance_mm: float,
    ) -> float:
        # The rule of path_length._far_length, with the other contour's distance map shared.
        if not edges.any():
            return 0.0
        if not other_edges.any():
            return float(lengths[edges].sum())
        return float(lengths[edges & self._far(other, z, tolerance_mm, half)].sum())

    def _centroid(self, d: _MaskData) -> np.ndarray | None:
        if d.centroid is None and d.count:
            d.centroid = centroid_mm(d.block, self.origin, self.spacing)
        return d.centroid

    def pair_metrics(
        self, reference: str, test: str, tolerance_mm: float = 2.0, apl_tolerance_mm: float = 1.0
    ) -> dict[str, float | None]:
        """The keys and values of :func:`~lundprobe_gui.metrics.pair.pair_metrics` for two named masks.

        Parameters
        ----------
        reference, test : str
            Names of the reference and the test mask.
        tolerance_mm : float
            Tolerance of the surface Dice.
        apl_tolerance_mm : float
            Tolerance of the added / false-negative path lengths.

        Returns
        -------
        dict
            Keys :data:`~lundprobe_gui.metrics.pair.PAIR_METRIC_KEYS`.
        """
        r, t = self._data[reference], self._data[test]
        n_ref, n_test = r.count, t.count
        if n_ref == 0 and n_test == 0:
            dice = jaccard = 1.0
        elif n_ref == 0 or n_test == 0:
            dice = jaccard = 0.0
        else:
            inter = int(np.count_nonzero(r.block & t.block))
            dice, jaccard = 2.0 * inter / (n_ref + n_test), inter / (n_ref + n_test - inter)
        surf = self.surface_distances(reference, test)
        apl, fnpl = self.path_lengths(reference, test, apl_tolerance_mm)
        voxel_cc = voxel_volume_mm3(self.spacing) / 1000.0
        ca, cb = self._centroid(r), self._centroid(t)
        shift = None if ca is None or cb is None else float(np.sqrt(np.sum((ca - cb) ** 2)))
        return {
            "dice": float(dice),
            "jaccard": float(jaccard),
            "hd_mm": surf.hausdorff(100.0),
            "hd95_mm": surf.hausdorff(95.0),
            "msd_mm": surf.mean_surface_distance(),
            "surface_dice": surf.surface_dice(tolerance_mm),
            "tolerance_mm": float(tolerance_mm),
            "apl_mm": apl,
            "fnpl_mm": fnpl,
            "volume_reference_cc": n_ref * voxel_cc,
            "volume_test_cc": n_test * voxel_cc,
            "centroid_shift_mm": shift,
        }
