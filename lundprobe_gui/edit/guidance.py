"""What the DL model says about the structure being edited: its folds, uncertainty map and ensemble.

The LUND-PROBE extended part stores, for each DL structure, the ten cross-validation folds'
masks and a voxel-wise uncertainty map beside the ensemble mask. The guided tools (fold vote,
hotspot navigator) read them through one :class:`Guidance` object per structure, which the UI
fills from the patient and a study step can withhold (hidden folds, hidden uncertainty).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lundprobe_gui.core.mask import Box, Mask, union_box
from lundprobe_gui.edit.constraint import read_image

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Guidance:
    """The DL folds, uncertainty and ensemble of one structure, all on the frame's grid.

    Parameters
    ----------
    folds : sequence of Mask
        The cross-validation folds' masks (empty when the structure has none).
    uncertainty : object or numpy.ndarray, optional
        The uncertainty map: anything with ``read(box)`` (a cropped
        :class:`~lundprobe_gui.core.volume.Volume`) or a full-size array.
    reference : Mask, optional
        The DL ensemble mask the folds and the uncertainty belong to.
    """

    folds: Sequence[Mask] = ()
    uncertainty: Any | None = None
    reference: Mask | None = None
    _fold_box: Box | None = field(default=None, init=False, repr=False)
    _fold_box_known: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.folds = tuple(self.folds)
        shapes = {m.shape for m in self.folds}
        if self.reference is not None:
            shapes.add(self.reference.shape)
        if len(shapes) > 1:
            raise ValueError(f"folds and reference lie on different grids: {sorted(shapes)}")

    @property
    def n_folds(self) -> int:
        """Number of folds."""
        return len(self.folds)

    def fold_box(self) -> Box | None:
        """Union of the folds' bounding boxes (where any fold has a voxel), or None without folds."""
        if not self._fold_box_known:
            box: Box | None = None
            for m in self.folds:
                box = union_box(box, m.bbox())
            self._fold_box, self._fold_box_known = box, True
        return self._fold_box

    def votes(self, box: Box) -> np.ndarray:
        """How many folds hold each voxel of ``box`` (uint8, 0..n_folds)."""
        shape = tuple(b - a for a, b in box)
        out = np.zeros(shape, np.uint8)
        for m in self.folds:
            out += m.read(box)
        return out

    def uncertainty_in(self, box: Box) -> np.ndarray:
        """The uncertainty values of ``box`` as float32 (zeros when there is no map)."""
        if self.uncertainty is None:
            return np.zeros(tuple(b - a for a, b in box), np.float32)
        return np.asarray(read_image(self.uncertainty, box), np.float32)
