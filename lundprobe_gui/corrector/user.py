"""The simulated user: one interaction on an error spot, with parameters from what a user sees.

The user is told where the next error is (:class:`~.errors.ErrorSpot`) and never sees the target.
Each interaction goes through the real editing session and tools, so it is counted, undoable and
constrained exactly as in the application.

Manual tools, on the error's axial slice:

* a thin piece (inscribed radius up to :data:`THIN_MM`), or a ring, gets one brush (or eraser)
  stroke along its skeleton, with the radius rounded up to 0.5 mm (10 mm at most);
* a thicker piece gets a polygon traced around it (0.5 voxel tolerance).

Guided tools, tried first, each at most once at a place:

* fold vote, when the folds reach the error: a 3-D footprint around the error's significant part,
  mode "add" or "remove" by the error's kind. By default (``judge=False``) k comes from the folds
  alone: the vote at the error's deepest voxel (the strictest vote that still fixes that voxel), or
  1 (10) when only other voxels of the region are reached. With ``judge=True`` the user looks at the
  k-boundary preview as k runs from 1 to 10 and takes the k whose change best covers the error
  region they are looking at (changed voxels inside it minus those outside it), and uses the fold
  vote only when that beats a polygon on the error's slice; the error region is what the polygon
  and the brush are fitted to as well, and nothing of the target outside it is looked at;
* grow from seeds, for a thick piece of an error that spans several slices: an inside stroke
  along the piece's skeleton and an outside stroke just beyond it (swapped for an extra piece),
  resolved by the watershed in the box around them.

The edge-aware brush is not used: the rule that would choose it needs the image edge to be the
boundary the user wants, which the synthetic observers' edits do not honour.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from skimage.measure import approximate_polygon, find_contours
from skimage.morphology import skeletonize

from ..core.mask import clip_box
from ..edit.brush import BrushSettings, BrushTool, EraserTool, brush_footprint
from ..edit.fold_vote import FoldVoteSettings, FoldVoteTool
from ..edit.grow import INSIDE, OUTSIDE, GrowSettings, GrowTool
from ..edit.polygon import PolygonSettings, PolygonTool
from ..edit.session import EditSession
from ..edit.tool import EditEvent, EventKind
from .errors import ErrorSpot

logger = logging.getLogger(__name__)

THIN_MM = 2.5
FOOTPRINT_MM = (3.0, 15.0)


def _ev(kind: EventKind, z: int, r: float, c: float, button: str = "left", key: str | None = None) -> EditEvent:
    return EditEvent(kind, 0, int(z), (float(z), float(r), float(c)), button, frozenset(), key)


def inscribed_radius(piece: np.ndarray, spacing_yx: Sequence[float]) -> float:
    """Largest distance (mm) from a pixel of ``piece`` to the outside."""
    return float(ndimage.distance_transform_edt(np.pad(piece, 1), sampling=tuple(spacing_yx)).max())


def ordered_skeleton(piece: np.ndarray) -> np.ndarray:
    """The skeleton's pixels (n, 2) in drawing order: a greedy walk from an end."""
    sk = skeletonize(piece)
    pts = np.argwhere(sk)
    if len(pts) == 0:
        pts = np.argwhere(piece)
    if len(pts) <= 2:
        return pts
    neighbours = ndimage.convolve(sk.astype(np.int16), np.ones((3, 3), np.int16), mode="constant")[tuple(pts.T)]
    order = [int(np.argmin(neighbours))]
    left = np.ones(len(pts), bool)
    left[order[0]] = False
    for _ in range(len(pts) - 1):
        d = ((pts - pts[order[-1]]) ** 2).sum(axis=1).astype(float)
        d[~left] = np.inf
        j = int(np.argmin(d))
        order.append(j)
        left[j] = False
    return pts[order]


@dataclass
class SimulatedUser:
    """Chooses and performs one interaction per error spot.

    Parameters
    ----------
    session : EditSession
        With the structure being corrected active and guidance (folds) attached.
    allowed : frozenset of str
        Tool names of the tool set.
    """

    session: EditSession
    allowed: frozenset[str]
    judge: bool = False
    used: dict[str, int] = field(default_factory=dict)
    _tried: list[tuple[str, np.ndarray, float]] = field(default_factory=list)

    @property
    def spacing(self) -> tuple[float, float, float]:
        return self.session.spacing_zyx  # type: ignore[return-value]

    def interact(self, spot: ErrorSpot) -> str:
        """Perform one interaction on ``spot``; returns the tool used."""
        for name, attempt in (("fold_vote", self._fold_vote), ("grow", self._grow)):
            if name in self.allowed and attempt(spot):
                return self._count(name)
        return self._count(self._manual(spot))

    def _count(self, name: str) -> str:
        self.used[name] = self.used.get(name, 0) + 1
        return name

    def _tried_here(self, tool: str, centre: np.ndarray) -> bool:
        return any(t == tool and np.linalg.norm((centre - c) * self.spacing) <= r for t, c, r in self._tried)

    # -- manual -------------------------------------------------------------------------------
    def _manual(self, spot: ErrorSpot) -> str:
        piece = spot.piece
        r_in = inscribed_radius(piece, self.spacing[1:])
        # a polygon fills what its outline encloses: a ring would lose (or gain) its middle
        ring = bool((ndimage.binary_fill_holes(piece) & ~piece).any())
        if (r_in <= THIN_MM or ring) and {"brush", "eraser"} & self.allowed:
            return self._stroke(spot, r_in)
        return self._polygon(spot)

    def _stroke(self, spot: ErrorSpot, r_in: float) -> str:
        radius = min(10.0, max(1.0, math.ceil(r_in * 2) / 2))
        cls = BrushTool if spot.kind == "add" else EraserTool
        tool = cls(BrushSettings(radius, False, "add" if spot.kind == "add" else "remove"))
        self.session.set_tool(tool)
        path = ordered_skeleton(spot.piece)
        self.session.handle(_ev("press", spot.z, *path[0]))
        for r, c in path[1:]:
            self.session.handle(_ev("move", spot.z, r, c))
        self.session.handle(_ev("release", spot.z, *path[-1]))
        return tool.name

    def _polygon(self, spot: ErrorSpot) -> str:
        contours = find_contours(np.pad(spot.piece, 1).astype(np.float32), 0.5)
        outline = max(contours, key=len) - 1.0
        vertices = approximate_polygon(outline, tolerance=0.5)[:-1]
        tool = PolygonTool(PolygonSettings("add" if spot.kind == "add" else "remove"))
        self.session.set_tool(tool)
        for r, c in vertices:
            self.session.handle(_ev("click", spot.z, r, c))
        self.session.handle(_ev("key", spot.z, 0, 0, key="Return"))
        return tool.name

    # -- guided -------------------------------------------------------------------------------
    def _fold_vote(self, spot: ErrorSpot) -> bool:
        ctx = self.session.context
        guide = ctx.guide if ctx is not None else None
        if guide is None or not guide.folds:
            return False
        weight = spot.significant if spot.significant.any() else spot.region
        pts = np.argwhere(weight)
        mm = np.asarray(self.spacing)
        centroid = pts.mean(axis=0)
        centre = pts[int(np.argmin((((pts - centroid) * mm) ** 2).sum(axis=1)))]
        if self._tried_here("fold_vote", centre):
            return False
        n = guide.n_folds
        box = tuple((int(a), int(b) + 1) for a, b in zip(pts.min(axis=0), pts.max(axis=0)))
        p = spot.deepest
        at_p = int(guide.votes(tuple((v, v + 1) for v in p))[0, 0, 0])  # type: ignore[arg-type]
        region_votes = guide.votes(box)[weight[tuple(slice(a, b) for a, b in box)]]  # type: ignore[arg-type]
        if spot.kind == "add":
            k = at_p if at_p >= 1 else (1 if (region_votes >= 1).any() else 0)
        else:
            k = at_p + 1 if at_p <= n - 1 else (n if (region_votes <= n - 1).any() else 0)
        if k == 0:
            return False
        radius = float(np.sqrt((((pts - centre) * mm) ** 2).sum(axis=1).max())) + 1.0
        radius = min(max(radius, FOOTPRINT_MM[0]), FOOTPRINT_MM[1])
        if self.judge:
            k = self._judged_k(spot, guide, centre, radius)
            if k == 0:
                return False
        self._tried.append(("fold_vote", centre, radius))
        tool = FoldVoteTool(FoldVoteSettings(k, "brush", radius, True, "add" if spot.kind == "add" else "remove"))
        self.session.set_tool(tool)
        z, r, c = (int(v) for v in centre)
        self.session.handle(_ev("press", z, r, c))
        self.session.handle(_ev("release", z, r, c))
        return True

    def _judged_k(self, spot: ErrorSpot, guide, centre: np.ndarray, radius: float) -> int:
        """The k whose preview best covers the error region inside the footprint (0: none beats a polygon)."""
        ctx = self.session.context
        assert ctx is not None
        fp = brush_footprint(radius, self.spacing, 0, True)
        half = np.asarray(fp.shape) // 2
        box = tuple((int(c - h), int(c + h + 1)) for c, h in zip(centre, half))
        inner = clip_box(box, spot.region.shape)  # type: ignore[arg-type]
        if inner is None:
            return 0
        sl = tuple(slice(a, b) for a, b in inner)
        fsl = tuple(slice(a - b0, b - b0) for (a, b), (b0, _) in zip(inner, box))
        foot = fp[fsl]
        votes = guide.votes(inner)
        cur = ctx.mask.read(inner)
        err = spot.region[sl]
        best_k, best_gain = 0, int(spot.piece.sum())
        for k in range(1, guide.n_folds + 1):
            agree = votes >= k
            change = foot & (agree & ~cur if spot.kind == "add" else ~agree & cur)
            gain = int(np.count_nonzero(change & err)) - int(np.count_nonzero(change & ~err))
            if gain > best_gain:
                best_k, best_gain = k, gain
        return best_k

    def _grow(self, spot: ErrorSpot) -> bool:
        if int(spot.significant.any(axis=(1, 2)).sum()) < 2:
            return False
        piece = spot.piece
        if inscribed_radius(piece, self.spacing[1:]) <= THIN_MM:
            return False
        centre = np.array([spot.z, *np.argwhere(piece).mean(axis=0)])
        if self._tried_here("grow", centre):
            return False
        ctx = self.session.context
        assert ctx is not None
        cur = ctx.mask.read(((spot.z, spot.z + 1), (0, piece.shape[0]), (0, piece.shape[1])))[0]
        ring = ndimage.binary_dilation(piece, iterations=3) & ~ndimage.binary_dilation(piece, iterations=2)
        beyond = ring & (~cur if spot.kind == "add" else cur)
        core = skeletonize(piece)
        if not beyond.any() or not core.any():
            return False
        inside, outside = (core, beyond) if spot.kind == "add" else (beyond, core)
        tool = GrowTool(GrowSettings(seed_radius_mm=0.5, margin_mm=5.0, method="watershed"))
        self.session.set_tool(tool)
        for label, pix in ((INSIDE, inside), (OUTSIDE, outside)):
            pts = np.argwhere(pix)
            tool.add_stroke(label, np.column_stack([np.full(len(pts), spot.z), pts]), 0)
        extent = float(np.sqrt((((np.argwhere(piece) - centre[1:]) * self.spacing[1:]) ** 2).sum(axis=1).max()))
        self._tried.append(("grow", centre, extent + 5.0))
        self.session.apply_tool((spot.z, int(centre[1]), int(centre[2])), 0)
        return True
