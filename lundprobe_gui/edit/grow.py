"""Grow from seeds: paint a few strokes inside and outside, and let the image decide in between.

Left-drag paints an inside stroke, right-drag (or Shift+left-drag) an outside stroke, each a thin
brush line on the view's slice. Once both kinds exist the tool resolves every voxel of the box
around the strokes (padded by ``margin_mm``) from the image and shows the result as a preview;
Enter applies it as one undo step, Escape drops the strokes, BackSpace the last one. The box's
faces are seeded with the structure as it is, so the result joins the rest of the structure.

Methods, measured by ``lundprobe-gui bench --only grow`` on the synthetic prostate (a 60x60x20
box, seeds on three slices, 2 cores):

* ``watershed`` (default): SimpleITK's morphological watershed from markers on the gradient
  magnitude (recursive Gaussian, sigma 0.5 mm). Tens of milliseconds; the boundary follows the
  strongest edge between the seeds.
* ``random_walker``: scikit-image's random walker (conjugate gradient with a Jacobi
  preconditioner, beta 1000 on the standardised image). Smoother and more faithful where edges are
  weak, but several times slower: it misses the 300 ms budget on this box.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from lundprobe_gui.core.mask import Box, Mask, bbox_of, clip_box, union_box
from lundprobe_gui.edit.brush import brush_footprint, stamps_region, stroke_centres
from lundprobe_gui.edit.constraint import read_image
from lundprobe_gui.edit.options import Option
from lundprobe_gui.edit.region import Region
from lundprobe_gui.edit.tool import EditEvent, Preview, Tool

logger = logging.getLogger(__name__)

METHODS = ("watershed", "random_walker")
INSIDE, OUTSIDE = 1, 2
SEED_COLOURS = {INSIDE: (60, 220, 60), OUTSIDE: (235, 60, 60)}
RESULT_COLOUR = (255, 210, 0)
WATERSHED_SIGMA_MM = 0.5
RANDOM_WALKER_BETA = 1000.0
MAX_BOX_VOXELS = {"watershed": 4_000_000, "random_walker": 400_000}
"""Largest box each method resolves (about a second of work): strokes spread wider get no preview."""


def grow_labels(image: np.ndarray, labels: np.ndarray, spacing_zyx, method: str = "watershed") -> np.ndarray:
    """Resolve unlabelled voxels from the image: True where the result is inside.

    Parameters
    ----------
    image : numpy.ndarray
        Image block (z, y, x).
    labels : numpy.ndarray
        Same shape: 0 unknown, 1 inside seed, 2 outside seed.
    spacing_zyx : sequence of float
        Voxel size in mm.
    method : {"watershed", "random_walker"}

    Returns
    -------
    numpy.ndarray
        Boolean block.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    labels = np.asarray(labels, np.uint8)
    if not (labels == INSIDE).any():
        return np.zeros(labels.shape, bool)
    if not (labels == OUTSIDE).any():
        return np.ones(labels.shape, bool)
    values = np.asarray(image, np.float32)
    if method == "random_walker":
        from skimage.segmentation import random_walker

        std = float(values.std()) or 1.0
        z = (values - float(values.mean())) / std
        return random_walker(z, labels, beta=RANDOM_WALKER_BETA, mode="cg_j", tol=1e-3, spacing=spacing_zyx) == INSIDE
    import SimpleITK as sitk

    from lundprobe_gui.io.nifti import SITK_LOCK

    with SITK_LOCK:
        img = sitk.GetImageFromArray(values)
        img.SetSpacing(tuple(float(s) for s in reversed(tuple(spacing_zyx))))
        grad = sitk.GradientMagnitudeRecursiveGaussian(img, WATERSHED_SIGMA_MM)
        markers = sitk.GetImageFromArray(labels)
        markers.CopyInformation(img)
        ws = sitk.MorphologicalWatershedFromMarkers(grad, markers, markWatershedLine=False, fullyConnected=True)
        return sitk.GetArrayFromImage(ws) == INSIDE


def seeded_box(seeds: Mask, margin_mm: float, spacing_zyx, shape) -> Box | None:
    """The box the grow resolves: the strokes' box padded by ``margin_mm`` (at least a voxel), clipped."""
    box = seeds.bbox()
    if box is None:
        return None
    pad = [max(1, int(np.ceil(margin_mm / s))) for s in spacing_zyx]
    return clip_box(tuple((a - p, b + p) for (a, b), p in zip(box, pad)), shape)  # type: ignore[arg-type]


def box_labels(box: Box, inside: Mask, outside: Mask, current: Mask) -> np.ndarray:
    """Seed labels over ``box``: the strokes, and the structure as it is on the box's faces."""
    labels = np.zeros(tuple(b - a for a, b in box), np.uint8)
    faces = np.zeros(labels.shape, bool)
    for ax in range(3):
        sl = [slice(None)] * 3
        for end in (0, -1):
            sl[ax] = end  # type: ignore[call-overload]
            faces[tuple(sl)] = True
    cur = current.read(box)
    labels[faces] = np.where(cur[faces], INSIDE, OUTSIDE)
    labels[outside.read(box)] = OUTSIDE
    labels[inside.read(box)] = INSIDE
    return labels


@dataclass
class GrowSettings:
    """Grow-from-seeds settings.

    Parameters
    ----------
    seed_radius_mm : float
        Radius of the seed strokes.
    margin_mm : float
        How far around the strokes the image decides.
    method : {"watershed", "random_walker"}
        See the module docstring.
    """

    seed_radius_mm: float = 1.5
    margin_mm: float = 5.0
    method: str = "watershed"


class GrowTool(Tool):
    """Inside and outside strokes; the image resolves the voxels between them."""

    name: ClassVar[str] = "grow"
    label: ClassVar[str] = "Grow from seeds"
    shortcut: ClassVar[str] = "0"
    description: ClassVar[str] = "Edit: grow from seeds (left: inside strokes, right: outside; Enter applies)"
    settings_type: ClassVar[type | None] = GrowSettings
    options: ClassVar[tuple[Option, ...]] = (
        Option("seed_radius_mm", "Stroke radius", "float", 0.5, 10.0, 0.5, 1, " mm"),
        Option(
            "margin_mm", "Region around strokes", "float", 1.0, 30.0, 1.0, 0, " mm", tooltip="How far the image decides"
        ),
        Option(
            "method",
            "Method",
            "choice",
            choices=(("watershed", "watershed (fast)"), ("random_walker", "random walker (smooth, slower)")),
        ),
    )
    needs: ClassVar[frozenset[str]] = frozenset({"image"})
    apply_text: ClassVar[str] = "Apply the grown region"

    def __init__(self, settings: GrowSettings | None = None) -> None:
        super().__init__(settings)
        self.settings: GrowSettings
        self.strokes: list[tuple[int, Region]] = []
        self._current: list[np.ndarray] = []
        self._label = INSIDE
        self._axis = 0
        self._result: tuple[Box, np.ndarray] | None = None
        self._result_sig: tuple | None = None

    # -- strokes -------------------------------------------------------------------------
    def _centre(self, event: EditEvent) -> np.ndarray:
        pos = np.asarray(event.zyx, float)
        pos[event.axis] = event.slice_index
        return np.floor(pos + 0.5)

    def on_press(self, event: EditEvent) -> bool:
        self._label = OUTSIDE if event.button == "right" or "shift" in event.modifiers else INSIDE
        self._axis = event.axis
        self._current = [self._centre(event)]
        return True

    def on_move(self, event: EditEvent) -> bool:
        if not self._current:
            return False
        ctx = self._require_ctx()
        nxt = stroke_centres(self._current[-1], self._centre(event), ctx.spacing_zyx, self.settings.seed_radius_mm / 2)
        self._current.extend(nxt)
        return True

    def on_release(self, event: EditEvent, was_drag: bool) -> bool:
        if not self._current:
            return False
        if was_drag:
            self.on_move(event)
        self.add_stroke(self._label, np.asarray(self._current), self._axis)
        self._current = []
        return True

    def on_click(self, event: EditEvent) -> bool:
        self.on_press(event)
        return self.on_release(event, False)

    def add_stroke(self, label: int, centres: np.ndarray, axis: int) -> None:
        """Add a stroke through voxel ``centres`` (n, 3) on the slice normal to ``axis``."""
        ctx = self._require_ctx()
        fp = brush_footprint(self.settings.seed_radius_mm, ctx.spacing_zyx, axis)
        region = stamps_region(np.asarray(centres, np.int64), fp)
        region = region.clip(ctx.shape) if region is not None else None
        if region is not None:
            self.strokes.append((int(label), region))
            self._preview_changed()

    def on_key(self, event: EditEvent) -> bool:
        if event.key == "Escape":
            self.cancel()
        elif event.key == "BackSpace" and self.strokes:
            self.strokes.pop()
            self._preview_changed()
        else:
            return False
        return True

    def cancel(self) -> None:
        self._current = []
        if self.strokes:
            self.strokes = []
            self._preview_changed()

    # -- seeds and result ------------------------------------------------------------------
    def seeds(self, label: int) -> Mask:
        """All strokes of one label as a mask on the full grid."""
        ctx = self._require_ctx()
        parts = [r for lab, r in self.strokes if lab == label]
        box: Box | None = None
        for r in parts:
            box = union_box(box, r.box)
        if box is None:
            return Mask(ctx.shape)
        values = np.zeros(tuple(b - a for a, b in box), bool)
        for r in parts:
            values[tuple(slice(a - o[0], b - o[0]) for (a, b), o in zip(r.box, box))] |= r.values
        return Mask(ctx.shape, values, [a for a, _ in box])

    def result(self) -> tuple[Box, np.ndarray] | None:
        """The grown region over its box (computed once per set of strokes), or None without both kinds."""
        ctx = self._require_ctx()
        s = self.settings
        sig = (self.preview_revision, id(ctx), s.margin_mm, s.method)
        if sig == self._result_sig:
            return self._result
        inside, outside = self.seeds(INSIDE), self.seeds(OUTSIDE)
        result = None
        if not inside.is_empty() and not outside.is_empty():
            both = Mask(ctx.shape)
            for m in (inside, outside):
                mb = m.bbox()
                if mb is not None:
                    both.write(mb, m.read(mb))
            box = seeded_box(both, s.margin_mm, ctx.spacing_zyx, ctx.shape)
            size = 0 if box is None else int(np.prod([b - a for a, b in box]))
            if box is not None and size > MAX_BOX_VOXELS.get(s.method, 0):
                logger.warning(
                    "grow: strokes span %d voxels, more than %s resolves; draw closer strokes", size, s.method
                )
                box = None
            if box is not None:
                labels = box_labels(box, inside, outside, ctx.mask)
                grown = grow_labels(read_image(ctx.image, box), labels, ctx.spacing_zyx, s.method)
                result = (box, grown)
        self._result, self._result_sig = result, sig
        return result

    def apply(self, cursor: tuple[int, int, int], axis: int) -> bool:
        got = self.result()
        if got is None:
            return False
        ctx = self._require_ctx()
        changed = ctx.apply(Region(*got), "set") is not None
        self.cancel()
        return changed

    def settings_changed(self) -> None:
        self._preview_changed()

    def previews(self) -> tuple[Preview, ...]:
        if self.ctx is None or not self.strokes:
            return ()
        out = []
        for label, text in ((INSIDE, "inside strokes"), (OUTSIDE, "outside strokes")):
            m = self.seeds(label)
            if not m.is_empty():
                out.append(Preview(text, m, SEED_COLOURS[label]))
        got = self.result()
        if got is not None:
            box, grown = got
            inner = bbox_of(grown)
            if inner is not None:
                offset = [a + b[0] for b, (a, _) in zip(inner, box)]
                values = grown[tuple(slice(a, b) for a, b in inner)]
                out.append(Preview("grown region (Enter applies)", Mask(self.ctx.shape, values, offset), RESULT_COLOUR))
        return tuple(out)


TOOLS = (GrowTool,)
