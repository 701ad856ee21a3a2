"""Polygon and lasso fill on a slice of any axis.

Clicks add vertices; "Return"/"Enter" (or a right click, or :meth:`PolygonTool.finish`) closes the
polygon and fills it; "BackSpace" removes the last vertex; "Escape" abandons it. Dragging with the
button held (more than two pixels) draws a lasso instead: the path is the polygon, and the release
closes and fills it.
The polygon lives on the slice of its first vertex; a vertex on another slice or view starts a new
polygon, because a polygon spanning slices has no meaning.

Vertices are in voxel coordinates (integer = voxel centre), which is the convention of
``skimage.draw.polygon``: the fill is exactly the pixels whose centres that function puts inside.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from skimage.draw import polygon as draw_polygon

from lundprobe_gui.edit.options import Option
from lundprobe_gui.edit.region import Region, plane_axes
from lundprobe_gui.edit.tool import EditEvent, Tool

logger = logging.getLogger(__name__)

_FINISH_KEYS = frozenset({"Return", "Enter"})
# lasso points closer than this (in pixels) to the previous one add nothing but work
_LASSO_MIN_STEP = 0.5
# a press that moves less than this (in pixels) is still a click: hand jitter while clicking
# vertices must not turn into a lasso that throws the polygon away
_DRAG_THRESHOLD = 2.0


def polygon_region(axis: int, index: int, vertices: Sequence[Sequence[float]], shape: Sequence[int]) -> Region | None:
    """Region of the filled polygon on one slice.

    Parameters
    ----------
    axis, index : int
        The slice: normal axis and index along it.
    vertices : sequence of (row, column)
        Polygon vertices in the slice's (row, column) voxel coordinates (see
        :func:`~lundprobe_gui.edit.region.plane_axes`).
    shape : sequence of int
        Full (z, y, x) grid shape; the polygon is clipped to it.

    Returns
    -------
    Region or None
        One voxel thick region over the filled pixels' bounding box; None when nothing is filled.
    """
    pts = np.asarray(vertices, dtype=float).reshape(-1, 2)
    if len(pts) < 3 or not 0 <= index < shape[axis]:
        return None
    ra, ca = plane_axes(axis)
    # skimage only visits the polygon's bounding box, so passing the full plane shape costs nothing
    rr, cc = draw_polygon(pts[:, 0], pts[:, 1], shape=(shape[ra], shape[ca]))
    if rr.size == 0:
        return None
    r0, c0 = int(rr.min()), int(cc.min())
    values = np.zeros((int(rr.max()) - r0 + 1, int(cc.max()) - c0 + 1), dtype=bool)
    values[rr - r0, cc - c0] = True
    return Region.on_slice(axis, index, ((r0, r0 + values.shape[0]), (c0, c0 + values.shape[1])), values)


@dataclass
class PolygonSettings:
    """Polygon settings.

    Parameters
    ----------
    mode : {"add", "remove"}
        Fill the polygon into the structure or cut it out.
    """

    mode: str = "add"


class PolygonTool(Tool):
    """Click-by-click polygon or drag lasso, filled in one slice."""

    name: ClassVar[str] = "polygon"
    label: ClassVar[str] = "Polygon / lasso"
    shortcut: ClassVar[str] = "3"
    description: ClassVar[str] = "Edit: polygon / lasso (click vertices, Enter closes)"
    settings_type: ClassVar[type | None] = PolygonSettings
    options: ClassVar[tuple[Option, ...]] = (
        Option("mode", "Polygon", "choice", choices=(("add", "add"), ("remove", "remove"))),
    )
    apply_text: ClassVar[str] = "Close the polygon"

    def __init__(self, settings: PolygonSettings | None = None) -> None:
        super().__init__(settings)
        self.settings: PolygonSettings
        self.vertices: list[tuple[float, float]] = []
        self.axis: int | None = None
        self.slice_index: int | None = None
        self._lasso_started = False

    # -- building ------------------------------------------------------------
    def _plane_point(self, event: EditEvent) -> tuple[float, float]:
        ra, ca = plane_axes(event.axis)
        return (event.zyx[ra], event.zyx[ca])

    def _add_vertex(self, event: EditEvent, min_step: float = 0.0) -> None:
        if (event.axis, event.slice_index) != (self.axis, self.slice_index):
            if self.vertices:
                logger.debug("polygon moved to another slice: restarted")
            self.vertices = []
            self.axis, self.slice_index = event.axis, event.slice_index
        p = self._plane_point(event)
        if self.vertices and min_step > 0:
            q = self.vertices[-1]
            if abs(p[0] - q[0]) < min_step and abs(p[1] - q[1]) < min_step:
                return
        self.vertices.append(p)

    def on_click(self, event: EditEvent) -> bool:
        if event.button == "right":
            self.finish()
            return True
        self._add_vertex(event)
        return True

    def on_press(self, event: EditEvent) -> bool:
        # a press may become a click (vertex) or the start of a lasso; decided on move/release
        return True

    def on_move(self, event: EditEvent) -> bool:
        if not self._lasso_started:
            pressed = self._pressed
            if pressed is None:
                return False
            a, b = self._plane_point(pressed), self._plane_point(event)
            if max(abs(a[0] - b[0]), abs(a[1] - b[1])) < _DRAG_THRESHOLD:
                return True
            # the lasso replaces any click polygon in progress, starting at the press point
            self.cancel()
            self._add_vertex(pressed)
            self._lasso_started = True
        self._add_vertex(event, _LASSO_MIN_STEP)
        return True

    def on_release(self, event: EditEvent, was_drag: bool) -> bool:
        if not self._lasso_started:
            return self.on_click(event)
        self._add_vertex(event, _LASSO_MIN_STEP)
        self._lasso_started = False
        self.finish()
        return True

    def on_key(self, event: EditEvent) -> bool:
        if event.key in _FINISH_KEYS:
            self.finish()
        elif event.key == "Escape":
            self.cancel()
        elif event.key == "BackSpace" and self.vertices:
            self.vertices.pop()
        else:
            return False
        return True

    # -- closing -------------------------------------------------------------
    def finish(self) -> bool:
        """Close and fill the polygon; returns True when the structure changed."""
        ctx = self._require_ctx()
        vertices, axis, index = self.vertices, self.axis, self.slice_index
        self.cancel()
        if axis is None or index is None or len(vertices) < 3:
            return False
        if self.settings.mode not in ("add", "remove"):
            raise ValueError(f"polygon mode must be 'add' or 'remove', got {self.settings.mode!r}")
        region = polygon_region(axis, index, vertices, ctx.shape)
        return ctx.apply(region, self.settings.mode) is not None

    def cancel(self) -> None:
        self.vertices = []
        self.axis = self.slice_index = None
        self._lasso_started = False

    def apply(self, cursor: tuple[int, int, int], axis: int) -> bool:
        return self.finish()


TOOLS = (PolygonTool,)
