"""Fold vote: set the structure to the voxels on which at least k of the DL folds agree.

The ten cross-validation folds of a LUND-PROBE DL structure are ten plausible answers; where they
disagree, the voxels held by at least k of them form a family of boundaries from the folds' union
(k = 1) through the ensemble (k near 5) to their intersection (k = 10). Choosing k where the DL
boundary looks wrong moves it to the next plausible answer in one action, where a brush needs a
stroke per slice.

Where it acts (``scope``):

* ``brush``: inside the brush footprint (a disc on the view's slice, or a sphere in 3-D) along a
  drag; one drag is one undo step;
* ``slice``: the clicked slice of the view (or the active view's slice on Enter);
* ``structure``: the whole structure (click or Enter).

``mode`` ``set`` makes the structure equal the vote there; ``add`` only adds voxels (grow to the
vote), ``remove`` only removes them (shrink to the vote). The k-boundary is shown as a preview
outline in every view while the tool is active, and follows k as it changes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from lundprobe_gui.core.mask import Box, Mask, union_box
from lundprobe_gui.edit.brush import RADIUS_OPTION, THREE_D_OPTION, BrushTool, stamps_region
from lundprobe_gui.edit.options import Option
from lundprobe_gui.edit.region import Region, plane_axes, slice_box
from lundprobe_gui.edit.tool import EditContext, EditEvent, Preview

logger = logging.getLogger(__name__)

SCOPES = ("brush", "slice", "structure")
MODES = ("set", "add", "remove")
PREVIEW_COLOUR = (255, 140, 0)


def vote_box(ctx: EditContext) -> Box | None:
    """Where a vote can change anything: the folds' union box and the structure's box."""
    guide = ctx.guide
    if guide is None or not guide.folds:
        return None
    return union_box(guide.fold_box(), ctx.mask.bbox())


def apply_vote(ctx: EditContext, where: Region, k: int, mode: str) -> bool:
    """Make the structure follow the k-of-n vote on the voxels of ``where``; True when it changed.

    Parameters
    ----------
    ctx : EditContext
        Its ``guide`` holds the folds.
    where : Region
        The voxels the vote acts on (clipped to the grid).
    k : int
        Folds that must agree (clamped to 1..n).
    mode : {"set", "add", "remove"}
    """
    if mode not in MODES:
        raise ValueError(f"fold-vote mode must be one of {MODES}, got {mode!r}")
    guide = ctx.guide
    if guide is None or not guide.folds:
        raise ValueError("this structure has no DL folds")
    clipped = where.clip(ctx.shape)
    if clipped is None:
        return False
    k = int(min(max(k, 1), guide.n_folds))
    agree = guide.votes(clipped.box) >= k
    if mode == "set":
        return ctx.apply_within(clipped, agree)
    if mode == "add":
        return ctx.apply(Region(clipped.box, clipped.values & agree), "add") is not None
    return ctx.apply(Region(clipped.box, clipped.values & ~agree), "remove") is not None


def scope_region(ctx: EditContext, scope: str, axis: int, index: int) -> Region | None:
    """The voxels of a slice (``scope`` "slice") or of the whole structure ("structure") a vote may change."""
    box = vote_box(ctx)
    if box is None:
        return None
    if scope == "structure":
        return Region(box, np.ones(tuple(b - a for a, b in box), bool))
    if scope != "slice":
        raise ValueError(f"scope must be 'slice' or 'structure' here, got {scope!r}")
    if not box[axis][0] <= index < box[axis][1]:
        return None
    plane = tuple(box[a] for a in plane_axes(axis))
    sbox = slice_box(axis, index, plane)  # type: ignore[arg-type]
    return Region(sbox, np.ones(tuple(b - a for a, b in sbox), bool))


@dataclass
class FoldVoteSettings:
    """Fold-vote settings.

    Parameters
    ----------
    k : int
        How many folds must agree (1 = union, n = intersection).
    scope : {"brush", "slice", "structure"}
        Where the vote acts.
    radius_mm : float
        Brush radius (shared with the brush).
    three_d : bool
        Spherical footprint (shared with the brush).
    mode : {"set", "add", "remove"}
        Follow the vote, or only grow / only shrink to it.
    """

    k: int = 5
    scope: str = "brush"
    radius_mm: float = 5.0
    three_d: bool = False
    mode: str = "set"


class FoldVoteTool(BrushTool):
    """Set the structure to the voxels where at least k of the DL folds agree."""

    name: ClassVar[str] = "fold_vote"
    label: ClassVar[str] = "Fold vote"
    shortcut: ClassVar[str] = "V"
    description: ClassVar[str] = "Edit: fold vote (follow k of the 10 DL folds in the brush, the slice or everywhere)"
    settings_type: ClassVar[type | None] = FoldVoteSettings
    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "k",
            "Folds agreeing (k)",
            "int",
            1,
            10,
            1,
            0,
            tooltip="1 = any fold (their union), 5 = the ensemble, 10 = every fold (their intersection)",
        ),
        Option(
            "scope",
            "Acts on",
            "choice",
            choices=(("brush", "brush footprint"), ("slice", "clicked slice"), ("structure", "whole structure")),
        ),
        Option(
            "mode",
            "Vote",
            "choice",
            choices=(("set", "follow the vote"), ("add", "only add"), ("remove", "only remove")),
        ),
        replace(RADIUS_OPTION, shown_when=("scope", ("brush",))),
        replace(THREE_D_OPTION, shown_when=("scope", ("brush",))),
    )
    needs: ClassVar[frozenset[str]] = frozenset({"folds"})
    apply_text: ClassVar[str] = "Apply the vote to the active view's slice, or to the whole structure"

    def __init__(self, settings: FoldVoteSettings | None = None) -> None:
        super().__init__(settings)  # type: ignore[arg-type]
        self.settings: FoldVoteSettings  # type: ignore[assignment]
        self._preview: tuple[tuple, Preview | None] | None = None

    @classmethod
    def default_settings(cls) -> FoldVoteSettings:  # type: ignore[override]
        return FoldVoteSettings()

    # -- brush scope: stamps of the vote along a drag ------------------------------------
    def _mode_for(self, event: EditEvent) -> str:
        return self.settings.mode

    def _stamp(self, centres: np.ndarray, axis: int) -> None:
        region = stamps_region(centres, self.footprint(axis))
        if region is not None:
            apply_vote(self._require_ctx(), region, self.settings.k, self._stroke_mode)

    def shows_brush_cursor(self) -> bool:
        return self.settings.scope == "brush"

    def on_press(self, event: EditEvent) -> bool:
        if self.settings.scope == "brush":
            return super().on_press(event)
        return True

    def on_move(self, event: EditEvent) -> bool:
        return super().on_move(event) if self.settings.scope == "brush" else True

    def on_release(self, event: EditEvent, was_drag: bool) -> bool:
        if self.settings.scope == "brush":
            return super().on_release(event, was_drag)
        return True if was_drag else self.on_click(event)

    def on_click(self, event: EditEvent) -> bool:
        if self.settings.scope == "brush":
            return super().on_click(event)
        self.run(event.axis, event.slice_index)
        return True

    # -- slice and structure scopes ----------------------------------------------------------
    def run(self, axis: int = 0, index: int = 0) -> bool:
        """Apply the vote to the slice (scope "slice") or the whole structure, as one undo step."""
        ctx = self._require_ctx()
        scope = "structure" if self.settings.scope == "structure" else "slice"
        region = scope_region(ctx, scope, axis, index)
        if region is None:
            return False
        with ctx.history.stroke():
            return apply_vote(ctx, region, self.settings.k, self.settings.mode)

    def apply(self, cursor: tuple[int, int, int], axis: int) -> bool:
        if self.settings.scope == "brush":
            return False
        return self.run(axis, cursor[axis])

    # -- preview ---------------------------------------------------------------------------
    def settings_changed(self) -> None:
        self._preview_changed()

    def previews(self) -> tuple[Preview, ...]:
        ctx = self.ctx
        if ctx is None or ctx.guide is None or not ctx.guide.folds:
            return ()
        guide = ctx.guide
        k = int(min(max(self.settings.k, 1), guide.n_folds))
        sig = (id(guide), k)
        if self._preview is None or self._preview[0] != sig:
            box = guide.fold_box()
            shown = None
            if box is not None:
                agree = guide.votes(box) >= k
                mask = Mask(ctx.shape, agree, [a for a, _ in box])
                shown = Preview(f"{k} of {guide.n_folds} folds agree", mask, PREVIEW_COLOUR)
            self._preview = (sig, shown)
        return () if self._preview[1] is None else (self._preview[1],)


TOOLS = (FoldVoteTool,)
