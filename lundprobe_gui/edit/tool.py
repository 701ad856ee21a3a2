"""The lifecycle every editing tool shares, and the events and context they receive.

Pointer protocol: the UI sends "press", "move" (while a button is held) and "release". A press
followed by a release with no move in between is a click; the UI may instead send a single "click"
event, and tools treat both the same (:meth:`Tool.on_click`). Keys arrive as "key" events with the
key name in :attr:`EditEvent.key` (Qt names without the ``Key_`` prefix, e.g. "Return", "Escape").

Coordinates: :attr:`EditEvent.zyx` is the pointer in float voxel coordinates of the full grid,
integer values at voxel centres (so rounding gives the voxel under the pointer).

A tool is whole in its own file: besides its region logic it describes itself for the UI with
class attributes (:attr:`Tool.label`, :attr:`Tool.shortcut`, :attr:`Tool.description`, the
declarative :attr:`Tool.options` of its settings dataclass, the data it :attr:`Tool.needs`), and it
may show :class:`Preview` outlines before anything is applied. The UI builds buttons, menu entries,
shortcuts and the settings panel from these; registering a tool is one line in
:mod:`lundprobe_gui.edit.registry`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from lundprobe_gui.core.mask import Box, Mask
from lundprobe_gui.edit.apply import Patch, apply_region, would_change
from lundprobe_gui.edit.constraint import EditConstraint
from lundprobe_gui.edit.guidance import Guidance
from lundprobe_gui.edit.history import History
from lundprobe_gui.edit.options import Option
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
    guide : Guidance, optional
        The DL model's folds, uncertainty map and ensemble for the structure being edited.
    """

    mask: Mask
    spacing_zyx: tuple[float, float, float]
    history: History
    constraint: EditConstraint | None = None
    image: Any | None = None
    changed: Callable[[Box], None] | None = None
    guide: Guidance | None = None
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

    def apply_within(self, where: Region, values: np.ndarray) -> bool:
        """Make the mask equal ``values`` on the voxels of ``where`` and keep it elsewhere, as one step.

        ``values`` has the shape of ``where``'s box. Unlike mode "set" over a box, voxels of the
        box outside ``where`` (the corners of a round footprint) are left alone.
        """
        values = np.asarray(values, bool)
        changed = False
        with self.history.stroke():
            changed |= self.apply(Region(where.box, where.values & values), "add") is not None
            changed |= self.apply(Region(where.box, where.values & ~values), "remove") is not None
        return changed


@dataclass(frozen=True, eq=False)
class Preview:
    """An outline a tool shows before anything is applied (the k-boundary of the fold vote, seeds).

    Parameters
    ----------
    label : str
        Legend text, e.g. "k >= 3 of 10 folds".
    mask : Mask
        The voxels, on the full grid (cropped like every mask).
    colour : tuple of int
        RGB.
    """

    label: str
    mask: Mask
    colour: tuple[int, int, int] = (255, 160, 0)


class Tool:
    """Base class of the editing tools.

    Subclasses override the ``on_*`` handlers they need. A tool is bound to a context between
    :meth:`activate` and :meth:`deactivate`; its settings survive re-activation with another
    context (another structure), and the history lives in the context, not in the tool.

    Class attributes describe the tool to the UI and to the study rules:

    ``name``
        Identifier (settings, shortcuts, logs, study rules).
    ``label``, ``description``, ``shortcut``
        Button text, one-line help, and the key that selects the tool ("" for none).
    ``settings_type``, ``options``
        The settings dataclass and its user-facing fields (:class:`~lundprobe_gui.edit.options.Option`).
    ``needs``
        Data the tool reads besides the mask: ``"image"``, ``"folds"``, ``"uncertainty"``. A study
        step that hides the folds or the uncertainty forbids the tools that need them.
    ``brush_cursor``
        The views draw a circle of ``settings.radius_mm`` under the pointer.
    ``apply_text``
        What Enter / the Apply button does with this tool ("" when it does nothing).
    """

    name: ClassVar[str] = "tool"
    label: ClassVar[str] = ""
    description: ClassVar[str] = ""
    shortcut: ClassVar[str] = ""
    settings_type: ClassVar[type | None] = None
    options: ClassVar[tuple[Option, ...]] = ()
    needs: ClassVar[frozenset[str]] = frozenset()
    brush_cursor: ClassVar[bool] = False
    apply_text: ClassVar[str] = ""

    def __init__(self, settings: Any | None = None) -> None:
        if settings is None and self.settings_type is not None:
            settings = self.default_settings()
        self.settings = settings
        self.ctx: EditContext | None = None
        self._pressed: EditEvent | None = None
        self._dragged = False
        self.reason: str | None = None
        """Why the last run changed nothing, when the tool can tell (e.g. nothing to fill)."""
        self.preview_revision = 0
        """Incremented whenever :meth:`previews` would return something else."""

    @classmethod
    def default_settings(cls) -> Any:
        """A settings object with the defaults (None for a tool without settings)."""
        return cls.settings_type() if cls.settings_type is not None else None

    @classmethod
    def unavailable(cls, ctx: EditContext) -> str | None:
        """Why the tool cannot work on this context (e.g. "no folds"), or None when it can."""
        guide = ctx.guide
        if "folds" in cls.needs and (guide is None or not guide.folds):
            return "this structure has no DL folds"
        if "uncertainty" in cls.needs and (guide is None or guide.uncertainty is None):
            return "this structure has no uncertainty map"
        if "image" in cls.needs and ctx.image is None:
            return "no image is loaded"
        return None

    @property
    def active(self) -> bool:
        """True while bound to a context."""
        return self.ctx is not None

    def activate(self, ctx: EditContext) -> None:
        """Bind the tool to a context."""
        if self.ctx is not None:
            self.deactivate()
        self.ctx = ctx
        self._preview_changed()
        logger.debug("activated %s", self.name)

    def deactivate(self) -> None:
        """Finish or abandon any interaction in progress and unbind."""
        self.cancel()
        self._pressed = None
        self._dragged = False
        self.ctx = None
        self._preview_changed()

    def cancel(self) -> None:
        """Abandon an interaction in progress (e.g. an unfinished polygon). Default: nothing."""

    def apply(self, cursor: tuple[int, int, int], axis: int) -> bool:
        """Enter / the Apply button: the crosshair voxel and the active view's axis; True when the mask changed.

        Default: nothing (pointer-only tools).
        """
        return False

    def shows_brush_cursor(self) -> bool:
        """Whether the views draw a circle of ``settings.radius_mm`` under the pointer now."""
        return self.brush_cursor

    def previews(self) -> tuple[Preview, ...]:
        """Outlines to show now (nothing applied yet). Default: none."""
        return ()

    def settings_changed(self) -> None:
        """The UI changed :attr:`settings`; tools with previews recompute them here."""

    def _preview_changed(self) -> None:
        self.preview_revision += 1

    def on_event(self, event: EditEvent) -> bool:
        """Dispatch an event; returns True when the tool used it."""
        if self.ctx is None:
            logger.debug("%s got %s while inactive", self.name, event.kind)
            return False
        if self.needs and self.unavailable(self.ctx) is not None:
            # e.g. the fold vote on a structure without folds: nothing to do, nothing to break
            logger.debug("%s: %s", self.name, self.unavailable(self.ctx))
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
