"""The lifecycle every editing tool shares, and the events and context they receive.

Pointer protocol: the UI sends "press", "move" (while a button is held) and "release". A press
followed by a release with no move in between is a click; the UI may instead send a single "click"
event, and tools treat both the same (:meth:`Tool.on_click`). Keys arrive as "key" events with the
key name in :attr:`EditEvent.key` (Qt names without the ``Key_`` prefix, e.g. "Return", "Escape").

Coordinates: :attr:`EditEvent.zyx` is the pointer in float voxel coordinates of the full grid,
integer values at voxel centres (so rounding gives the voxel under the pointer).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Literal

import numpy as np

from lundprobe_gui.core.mask import Box, Mask
from lundprobe_gui.edit.apply import Patch, apply_region, would_change
from lundprobe_gui.edit.constraint import EditConstraint
from lundprobe_gui.edit.history import History
from lundprobe_gui.edit.region import Region

logger = logging.getLogger(__name__)

EventKind = Literal["press", "move", "release", "click", "key"]
EVENT_KINDS: tuple[str, ...] = ("press", "move", "release", "click", "key")


@dataclass(frozen=True)
class EditEvent:
    """A pointer or key event on a slice view.

    Parameters
    ----------
    kind : {"press", "move", "release", "click", "key"}
    axis : int
        Slice normal of the view: 0 axial, 1 coronal, 2 sagittal.
    slice_index : int
        Index of the shown slice along ``axis``.
    zyx : tuple of float
        Pointer position in voxel coordinates of the full grid.
    button : {"left", "right", "middle"} or None
        Mouse button of pointer events.
    modifiers : frozenset of str
        Held modifier keys, e.g. ``{"shift"}``, ``{"ctrl"}``.
    key : str, optional
        Key name of "key" events.
    """

    kind: EventKind
    axis: int = 0
    slice_index: int = 0
    zyx: tuple[float, float, float] = (0.0, 0.0, 0.0)
    button: str | None = "left"
    modifiers: frozenset[str] = field(default_factory=frozenset)
    key: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"kind must be one of {EVENT_KINDS}, got {self.kind!r}")
        if self.axis not in (0, 1, 2):
            raise ValueError(f"axis must be 0, 1 or 2, got {self.axis!r}")
        object.__setattr__(self, "zyx", tuple(float(v) for v in self.zyx))
        object.__setattr__(self, "modifiers", frozenset(self.modifiers))

    def voxel(self) -> tuple[int, int, int]:
        """The voxel under the pointer, with the slice coordinate taken from ``slice_index``."""
        out = [int(np.floor(v + 0.5)) for v in self.zyx]
        out[self.axis] = int(self.slice_index)
        return tuple(out)  # type: ignore[return-value]


@dataclass
class EditContext:
    """What a tool edits and with which settings.

    Parameters
    ----------
    mask : Mask
        The active structure (a working copy).
    spacing_zyx : tuple of float
        Voxel size in mm.
    history : History
        Session-wide undo history.
    constraint : EditConstraint, optional
        Masking settings.
    image : object or numpy.ndarray, optional
        Image for intensity ranges (``read(box)`` object or full-size array).
    changed : callable, optional
        ``changed(box)`` after every applied edit, so the UI re-renders only that box.
    """

    mask: Mask
    spacing_zyx: tuple[float, float, float]
    history: History
    constraint: EditConstraint | None = None
    image: Any | None = None
    changed: Callable[[Box], None] | None = None
    applied: int = field(default=0, init=False)
    """Edits that changed the mask since :meth:`begin_action`."""
    blocked: int = field(default=0, init=False)
    """Edits since :meth:`begin_action` that changed nothing only because the constraint forbade it."""

    def __post_init__(self) -> None:
        self.spacing_zyx = tuple(float(v) for v in self.spacing_zyx)  # type: ignore[assignment]
        if len(self.spacing_zyx) != 3 or min(self.spacing_zyx) <= 0:
            raise ValueError(f"spacing_zyx must be three positive numbers, got {self.spacing_zyx}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Full grid shape of the active structure."""
        return self.mask.shape  # type: ignore[return-value]

    def apply(self, region: Region | None, mode: str) -> Patch | None:
        """Apply a region to the active mask, record the patch and report the changed box.

        Returns the patch, or None when nothing changed (no history entry, no callback).
        """
        if region is None:
            return None
        patch = apply_region(self.mask, region, mode, self.constraint, image=self.image)
        if patch is None:
            if self.constraint is not None and not self.constraint.is_trivial and would_change(self.mask, region, mode):
                self.blocked += 1
            return None
        self.applied += 1
        self.history.record(patch)
        if self.changed is not None:
            self.changed(patch.box)
        return patch

    def begin_action(self) -> None:
        """Start counting applied and blocked edits for one user action (a stroke, a click, a tool run)."""
        self.applied = self.blocked = 0

    def apply_found(self, found: tuple[Region, str] | None) -> bool:
        """Apply the (region, mode) of a whole-structure operation as one step; True when the mask changed."""
        if found is None:
            return False
        return self.apply(*found) is not None


class Tool:
    """Base class of the editing tools.

    Subclasses override the ``on_*`` handlers they need. A tool is bound to a context between
    :meth:`activate` and :meth:`deactivate`; its settings survive re-activation with another
    context (another structure), and the history lives in the context, not in the tool.
    """

    name: ClassVar[str] = "tool"

    def __init__(self) -> None:
        self.ctx: EditContext | None = None
        self._pressed: EditEvent | None = None
        self._dragged = False
        self.reason: str | None = None
        """Why the last run changed nothing, when the tool can tell (e.g. nothing to fill)."""

    @property
    def active(self) -> bool:
        """True while bound to a context."""
        return self.ctx is not None

    def activate(self, ctx: EditContext) -> None:
        """Bind the tool to a context."""
        if self.ctx is not None:
            self.deactivate()
        self.ctx = ctx
        logger.debug("activated %s", self.name)

    def deactivate(self) -> None:
        """Finish or abandon any interaction in progress and unbind."""
        self.cancel()
        self._pressed = None
        self._dragged = False
        self.ctx = None

    def cancel(self) -> None:
        """Abandon an interaction in progress (e.g. an unfinished polygon). Default: nothing."""

    def on_event(self, event: EditEvent) -> bool:
        """Dispatch an event; returns True when the tool used it."""
        if self.ctx is None:
            logger.debug("%s got %s while inactive", self.name, event.kind)
            return False
        if event.kind == "press":
            self._pressed, self._dragged = event, False
            return self.on_press(event)
        if event.kind == "move":
            if self._pressed is None:
                return self.on_hover(event)
            self._dragged = True
            return self.on_move(event)
        if event.kind == "release":
            was_drag, self._pressed = self._dragged, None
            self._dragged = False
            return self.on_release(event, was_drag)
        if event.kind == "click":
            return self.on_click(event)
        return self.on_key(event)

    def _require_ctx(self) -> EditContext:
        if self.ctx is None:
            raise RuntimeError(f"tool {self.name!r} is not active")
        return self.ctx

    # -- handlers: defaults make every tool click-driven ---------------------
    def on_press(self, event: EditEvent) -> bool:
        """Button pressed."""
        return False

    def on_move(self, event: EditEvent) -> bool:
        """Pointer moved with a button held."""
        return False

    def on_hover(self, event: EditEvent) -> bool:
        """Pointer moved with no button held."""
        return False

    def on_release(self, event: EditEvent, was_drag: bool) -> bool:
        """Button released; a release without a drag is a click."""
        return False if was_drag else self.on_click(event)

    def on_click(self, event: EditEvent) -> bool:
        """Click (press and release without moving)."""
        return False

    def on_key(self, event: EditEvent) -> bool:
        """Key pressed."""
        return False
