"""Hotspot navigator: where the DL model is unsure about the boundary, as a list to work through.

A hotspot is a connected region (26-connectivity) of voxels that lie within ``near_mm`` of the DL
mask's boundary and whose uncertainty is at least ``threshold`` (default 0.2 on the map's 0..0.5
scale). Regions smaller than ``min_volume_mm3`` are dropped as noise. They are listed largest
first (ties: higher mean uncertainty first); :class:`HotspotNavigator` steps through them (N /
Shift+N in the UI), remembers which were reviewed ("12 of 15 regions reviewed") and accepts the
low-uncertainty rest of the boundary in one action: :func:`accept_region` gives the band of the
DL boundary where the uncertainty is below the threshold, set back to the DL mask there.

Only the DL mask's bounding box padded by ``near_mm`` is read, so a full-size map costs what the
structure's neighbourhood costs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from lundprobe_gui.core.events import Emitter
from lundprobe_gui.core.mask import Box, Mask, clip_box
from lundprobe_gui.edit.constraint import read_image
from lundprobe_gui.edit.region import Region
from lundprobe_gui.edit.toolset import HOTSPOTS, ToolUse

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.2


@dataclass(frozen=True)
class Hotspot:
    """One connected high-uncertainty region near the DL boundary.

    Attributes
    ----------
    number : int
        1-based rank in the list.
    voxels : int
        Size in voxels.
    volume_mm3 : float
        Size in mm^3.
    mean_uncertainty, max_uncertainty : float
        Of the region's voxels.
    centre : tuple of int
        The region's voxel nearest to its centroid (always inside the region): where the
        navigator puts the crosshair.
    box : Box
        The region's bounding box.
    """

    number: int
    voxels: int
    volume_mm3: float
    mean_uncertainty: float
    max_uncertainty: float
    centre: tuple[int, int, int]
    box: Box

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "number": self.number,
            "voxels": self.voxels,
            "volume_mm3": round(self.volume_mm3, 2),
            "mean_uncertainty": round(self.mean_uncertainty, 4),
            "max_uncertainty": round(self.max_uncertainty, 4),
            "centre_zyx": list(self.centre),
        }


def _near_box(reference: Mask, near_mm: float, spacing_zyx: Sequence[float]) -> Box | None:
    bbox = reference.bbox()
    if bbox is None:
        return None
    pad = [int(math.ceil(near_mm / s)) + 1 for s in spacing_zyx]
    return clip_box(tuple((a - p, b + p) for (a, b), p in zip(bbox, pad)), reference.shape)  # type: ignore[arg-type]


def boundary_distance(block: np.ndarray, spacing_zyx: Sequence[float]) -> np.ndarray:
    """Distance in mm from each voxel to the boundary of ``block`` (inside and outside alike)."""
    if not block.any() or block.all():
        return np.full(block.shape, np.inf, np.float32)
    inside = ndimage.distance_transform_edt(block, sampling=tuple(spacing_zyx))
    outside = ndimage.distance_transform_edt(~block, sampling=tuple(spacing_zyx))
    return np.where(block, inside, outside).astype(np.float32)


def find_hotspots(
    uncertainty: Any,
    reference: Mask,
    spacing_zyx: Sequence[float],
    threshold: float = DEFAULT_THRESHOLD,
    near_mm: float = 3.0,
    min_volume_mm3: float = 5.0,
) -> list[Hotspot]:
    """The high-uncertainty regions near the DL boundary, largest first.

    Parameters
    ----------
    uncertainty : object or numpy.ndarray
        The map (``read(box)`` object or full-size array) on the reference's grid.
    reference : Mask
        The DL mask whose boundary the regions lie on.
    spacing_zyx : sequence of float
        Voxel size in mm.
    threshold : float
        Lowest uncertainty counted.
    near_mm : float
        Largest distance from the boundary.
    min_volume_mm3 : float
        Smaller regions are dropped.
    """
    box = _near_box(reference, near_mm, spacing_zyx)
    if box is None:
        return []
    unc = np.asarray(read_image(uncertainty, box), np.float32)
    near = boundary_distance(reference.read(box), spacing_zyx) <= near_mm
    hot = near & (unc >= np.float32(threshold))
    labels, n = ndimage.label(hot, structure=np.ones((3, 3, 3), bool))
    if n == 0:
        return []
    voxel_mm3 = float(np.prod(spacing_zyx))
    idx = np.arange(1, n + 1)
    sizes = ndimage.sum_labels(hot, labels, idx)
    means = ndimage.mean(unc, labels, idx)
    maxes = ndimage.maximum(unc, labels, idx)
    found = []
    for i, sl in enumerate(ndimage.find_objects(labels)):
        if sl is None or sizes[i] * voxel_mm3 < min_volume_mm3:
            continue
        own = labels[sl] == i + 1
        pts = np.argwhere(own)
        centroid = pts.mean(axis=0)
        nearest = pts[np.argmin(((pts - centroid) * np.asarray(spacing_zyx)) ** 2 @ np.ones(3))]
        off = [s.start + b[0] for s, b in zip(sl, box)]
        found.append(
            (
                int(sizes[i]),
                float(means[i]),
                float(maxes[i]),
                tuple(int(v + o) for v, o in zip(nearest, off)),
                tuple((o, o + s.stop - s.start) for o, s in zip(off, sl)),
            )
        )
    found.sort(key=lambda f: (-f[0], -f[1]))
    return [
        Hotspot(k + 1, size, size * voxel_mm3, mean, mx, centre, hbox)  # type: ignore[arg-type]
        for k, (size, mean, mx, centre, hbox) in enumerate(found)
    ]


def accept_band(
    uncertainty: Any,
    reference: Mask,
    spacing_zyx: Sequence[float],
    threshold: float = DEFAULT_THRESHOLD,
    band_mm: float = 3.0,
) -> tuple[Region, float] | None:
    """The low-uncertainty part of the DL boundary: voxels within ``band_mm`` of it with uncertainty < threshold.

    Returns
    -------
    (Region, float) or None
        The band, and the share of the DL boundary's voxels it covers (0..1); None for an empty mask.
    """
    box = _near_box(reference, band_mm, spacing_zyx)
    if box is None:
        return None
    ref = reference.read(box)
    unc = np.asarray(read_image(uncertainty, box), np.float32)
    low = unc < np.float32(threshold)
    band = (boundary_distance(ref, spacing_zyx) <= band_mm) & low
    surface = ref & ~ndimage.binary_erosion(ref, border_value=0)
    share = float(np.count_nonzero(surface & low)) / max(1, int(np.count_nonzero(surface)))
    return Region(box, band), share


def accept_region(
    current: Mask, uncertainty: Any, reference: Mask, spacing_zyx: Sequence[float], threshold: float, band_mm: float
) -> tuple[Region, np.ndarray, float] | None:
    """Where accepting changes the structure: the band, the DL mask's values on it, and the share accepted.

    Apply with :meth:`~lundprobe_gui.edit.tool.EditContext.apply_within` (one undo step); on a
    structure still equal to the DL mask there it changes nothing.
    """
    got = accept_band(uncertainty, reference, spacing_zyx, threshold, band_mm)
    if got is None:
        return None
    band, share = got
    return band, reference.read(band.box), share


@dataclass
class HotspotNavigator:
    """The hotspot list of one structure, the one shown now, and which were reviewed.

    Attributes
    ----------
    used : Emitter
        Emits a :class:`~lundprobe_gui.edit.toolset.ToolUse` for each navigation, review mark and
        acceptance (for the interaction log).
    """

    structure: str = ""
    hotspots: list[Hotspot] = field(default_factory=list)
    threshold: float = DEFAULT_THRESHOLD
    current: int | None = None
    reviewed: set[int] = field(default_factory=set)
    accepted_share: float | None = None
    used: Emitter = field(default_factory=Emitter, repr=False)

    def set_hotspots(self, structure: str, hotspots: list[Hotspot], threshold: float) -> None:
        """A new list (new structure or threshold): nothing is current or reviewed any more."""
        self.structure, self.hotspots, self.threshold = structure, list(hotspots), float(threshold)
        self.current = None
        self.reviewed = set()
        self.accepted_share = None

    def __len__(self) -> int:
        return len(self.hotspots)

    def go(self, step: int) -> Hotspot | None:
        """Move ``step`` regions on (negative: back), wrapping around; the region to show, or None."""
        if not self.hotspots:
            return None
        if self.current is None:
            self.current = 0 if step >= 0 else len(self.hotspots) - 1
        else:
            self.current = (self.current + step) % len(self.hotspots)
        spot = self.hotspots[self.current]
        self.used.emit(ToolUse(HOTSPOTS, "navigate", self.structure, details={"hotspot": spot.number}))
        return spot

    def select(self, i: int) -> Hotspot:
        """Make region ``i`` (0-based) current."""
        self.current = int(i) % len(self.hotspots)
        spot = self.hotspots[self.current]
        self.used.emit(ToolUse(HOTSPOTS, "navigate", self.structure, details={"hotspot": spot.number}))
        return spot

    def mark_reviewed(self, i: int | None = None, reviewed: bool = True) -> None:
        """Mark region ``i`` (the current one by default) as reviewed or not."""
        i = self.current if i is None else int(i)
        if i is None or not 0 <= i < len(self.hotspots):
            return
        (self.reviewed.add if reviewed else self.reviewed.discard)(i)
        self.used.emit(
            ToolUse(
                HOTSPOTS,
                "review",
                self.structure,
                details={"hotspot": self.hotspots[i].number, "reviewed": bool(reviewed)},
            )
        )

    def accepted(self, share: float, voxels_added: int = 0, voxels_removed: int = 0) -> None:
        """Record that the low-uncertainty boundary (``share`` of it) was accepted."""
        self.accepted_share = float(share)
        self.used.emit(
            ToolUse(
                HOTSPOTS,
                "accept",
                self.structure,
                voxels_added=voxels_added,
                voxels_removed=voxels_removed,
                details={"threshold": self.threshold, "share": round(share, 4)},
            )
        )

    def meter(self) -> str:
        """E.g. "12 of 15 regions reviewed"."""
        text = f"{len(self.reviewed)} of {len(self.hotspots)} regions reviewed"
        if self.accepted_share is not None:
            text += f"; low-uncertainty boundary ({100 * self.accepted_share:.0f} %) accepted"
        return text
