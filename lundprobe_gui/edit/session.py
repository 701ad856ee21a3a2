"""An editing session: working copies of structures, one shared history, the active tool.

Structures are keyed by (name, target_source), e.g. ("Prostate", "observer_1"): the same organ may
be corrected into several targets. The session never modifies the masks it is given; it edits
copies, keeps a second copy of each starting mask for the live statistics, and flags a copy dirty
whenever it changes (edits, undo, redo, reset) until :meth:`EditSession.mark_saved`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any

from lundprobe_gui.core.events import Emitter
from lundprobe_gui.core.geometry import floats3
from lundprobe_gui.core.mask import Box, Mask, union_box
from lundprobe_gui.edit.apply import apply_region
from lundprobe_gui.edit.constraint import EditConstraint
from lundprobe_gui.edit.guidance import Guidance
from lundprobe_gui.edit.history import History
from lundprobe_gui.edit.region import Region
from lundprobe_gui.edit.stats import EditStats, edit_stats
from lundprobe_gui.edit.tool import EditContext, EditEvent, Tool
from lundprobe_gui.edit.toolset import ToolSet, ToolUse

logger = logging.getLogger(__name__)

Key = tuple[str, str]
"""(structure name, target source)."""


class EditSession:
    """Working copies, history, tool and constraint of one editing session.

    Parameters
    ----------
    spacing_zyx : sequence of float
        Voxel size in mm of the frame's grid.
    image : object or numpy.ndarray, optional
        Image for intensity constraints (``read(box)`` object or full-size array).
    history : History, optional
        Shared history; a new one with the default memory cap when omitted.
    on_change : callable, optional
        ``on_change(key, box)`` whenever a working copy changes, to re-render that box.
    guidance : callable, optional
        ``guidance(name)``: the DL folds, uncertainty and ensemble of a structure (or None), for
        the guided tools.

    Attributes
    ----------
    tool_used : Emitter
        Emits a :class:`~lundprobe_gui.edit.toolset.ToolUse` for every interaction that became an
        undo step (a stroke, a polygon, an application), for an interaction log.
    """

    def __init__(
        self,
        spacing_zyx: Sequence[float],
        *,
        image: Any | None = None,
        history: History | None = None,
        on_change: Callable[[Key, Box], None] | None = None,
        guidance: Callable[[str], Guidance | None] | None = None,
    ) -> None:
        self.spacing_zyx = tuple(float(v) for v in spacing_zyx)
        self.image = image
        self.history = history if history is not None else History()
        self.on_change = on_change
        self.guidance = guidance
        self.tool_used = Emitter()
        self._tool_set = ToolSet()
        self._working: dict[Key, Mask] = {}
        self._start: dict[Key, Mask] = {}
        self._dirty: dict[Key, bool] = {}
        self._active: Key | None = None
        self._ctx: EditContext | None = None
        self._tool: Tool | None = None
        self._constraint: EditConstraint | None = None

    # -- structures ------------------------------------------------------------
    def start_editing(self, name: str, source_mask: Mask, target_source: str) -> Key:
        """Open a working copy of ``source_mask`` and make it active; returns its key.

        If the key is already open its working copy (with its edits) is kept and made active.
        """
        key = (str(name), str(target_source))
        if key not in self._working:
            self._add(key, source_mask.copy())
        else:
            logger.debug("%s is already being edited: keeping its working copy", key)
        self.set_active(key)
        return key

    def new_structure(self, name: str, shape: Sequence[int], target_source: str) -> Key:
        """Open an empty structure on a grid of ``shape`` and make it active."""
        return self.start_editing(name, Mask(shape), target_source)

    def _add(self, key: Key, mask: Mask) -> None:
        self._working[key] = mask
        self._start[key] = mask.copy()
        self._dirty[key] = False

    def close(self, key: Key) -> None:
        """Stop editing a structure; its undo steps are dropped."""
        mask = self._working.pop(key)
        self._start.pop(key)
        self._dirty.pop(key)
        self.history.forget(mask)
        if self._active == key:
            self.set_active(None)

    def keys(self) -> list[Key]:
        """Open structures."""
        return list(self._working)

    def working(self, key: Key) -> Mask:
        """The working copy (edited in place by the tools)."""
        return self._working[key]

    def start_mask(self, key: Key) -> Mask:
        """The mask as it was when editing started."""
        return self._start[key]

    @property
    def active_key(self) -> Key | None:
        """Key of the structure the tools edit."""
        return self._active

    def set_active(self, key: Key | None) -> None:
        """Make another structure the one the tools edit."""
        if key is not None and key not in self._working:
            raise KeyError(key)
        if self._tool is not None and self._tool.active:
            self._tool.deactivate()
        self._active = key
        self._ctx = None if key is None else self._context(key)
        if self._tool is not None and self._ctx is not None:
            self._tool.activate(self._ctx)

    def _context(self, key: Key) -> EditContext:
        return EditContext(
            self._working[key],
            floats3(self.spacing_zyx),
            self.history,
            self._constraint,
            self.image,
            functools.partial(self._changed, key),
            self.guidance(key[0]) if self.guidance is not None else None,
        )

    def refresh_guidance(self) -> None:
        """Ask :attr:`guidance` again (folds or the uncertainty map finished loading)."""
        if self._active is not None:
            self.set_active(self._active)

    @property
    def context(self) -> EditContext | None:
        """What the tools edit now (None while no structure is active)."""
        return self._ctx

    # -- tool and constraint ---------------------------------------------------
    @property
    def tool(self) -> Tool | None:
        """The active tool."""
        return self._tool

    @property
    def tool_set(self) -> ToolSet:
        """The tools this session permits (all by default)."""
        return self._tool_set

    @tool_set.setter
    def tool_set(self, value: ToolSet) -> None:
        self._tool_set = value
        if self._tool is not None and value.why_not(self._tool.name, self._tool.needs) is not None:
            logger.info("tool %s is not permitted any more: dropped", self._tool.name)
            self.set_tool(None)

    def set_tool(self, tool: Tool | None) -> None:
        """Deactivate the current tool and activate ``tool``; the history is kept.

        Raises
        ------
        PermissionError
            When :attr:`tool_set` does not permit the tool.
        """
        if tool is not None:
            why = self._tool_set.why_not(tool.name, tool.needs)
            if why is not None:
                raise PermissionError(why)
        if self._tool is not None and self._tool.active:
            self._tool.deactivate()
        self._tool = tool
        if tool is not None and self._ctx is not None:
            tool.activate(self._ctx)

    @property
    def constraint(self) -> EditConstraint | None:
        """Masking settings applied to tool edits and :meth:`copy_from`."""
        return self._constraint

    @constraint.setter
    def constraint(self, value: EditConstraint | None) -> None:
        self._constraint = value
        if self._ctx is not None:
            # the tool holds this context: update it in place instead of re-activating
            self._ctx.constraint = value

    def handle(self, event: EditEvent) -> bool:
        """Pass a view event to the active tool; returns True when the tool used it."""
        if self._tool is None or not self._tool.active:
            return False
        tool = self._tool
        pushed = self.history.steps_pushed
        used = tool.on_event(event)
        self._report_use(tool, pushed)
        return used

    def apply_tool(self, cursor: Sequence[int], axis: int) -> bool:
        """Enter / Apply for the active tool at the crosshair voxel; True when the structure changed."""
        if self._tool is None or not self._tool.active:
            return False
        tool = self._tool
        if tool.needs and self._ctx is not None and tool.unavailable(self._ctx) is not None:
            return False
        pushed = self.history.steps_pushed
        changed = tool.apply(tuple(int(v) for v in cursor), int(axis))  # type: ignore[arg-type]
        self._report_use(tool, pushed)
        return changed

    def _report_use(self, tool: Tool, pushed_before: int) -> None:
        if self.history.steps_pushed == pushed_before or self.history.in_stroke or self._active is None:
            return
        added, removed = self.history.newest_counts()
        self.tool_used.emit(ToolUse(tool.name, "edit", self._active[0], self._active[1], added, removed))

    def begin_action(self) -> None:
        """Start one user action (a stroke, a click, a tool run) for :meth:`nothing_changed_reason`."""
        if self._ctx is not None:
            self._ctx.begin_action()
        if self._tool is not None:
            self._tool.reason = None

    def nothing_changed_reason(self) -> str | None:
        """Why the action since :meth:`begin_action` changed nothing, if it did and the reason is known."""
        ctx = self._ctx
        if ctx is None or ctx.applied:
            return None
        if ctx.blocked and ctx.constraint is not None:
            return ctx.constraint.blocked_message()
        return None if self._tool is None else self._tool.reason

    # -- whole-structure edits ---------------------------------------------------
    def copy_from(self, key: Key, other_mask: Mask, mode: str = "set") -> bool:
        """Replace (``"set"``), extend (``"add"``) or cut (``"remove"``) a working copy with another
        mask, honouring the constraint; one undo step. Returns True when something changed."""
        mask = self._working[key]
        if other_mask.shape != mask.shape:
            raise ValueError(f"grids differ: {other_mask.shape} vs {mask.shape}")
        box = other_mask.bbox() if mode != "set" else union_box(mask.bbox(), other_mask.bbox())
        if box is None:
            return False
        self._interrupt()
        ctx = self._ctx if key == self._active else self._context(key)
        return ctx.apply(Region(box, other_mask.read(box)), mode) is not None  # type: ignore[union-attr]

    def reset_to(self, key: Key, mask: Mask) -> bool:
        """Make the working copy equal to ``mask`` (e.g. the DL mask) as one undo step.

        The constraint is ignored: a reset restores, it does not edit.
        """
        work = self._working[key]
        if mask.shape != work.shape:
            raise ValueError(f"grids differ: {mask.shape} vs {work.shape}")
        box = union_box(work.bbox(), mask.bbox())
        if box is None:
            return False
        self._interrupt()
        patch = apply_region(work, Region(box, mask.read(box)), "set")
        if patch is None:
            return False
        self.history.record(patch)
        self._changed(key, patch.box)
        return True

    def _interrupt(self) -> None:
        # a drag in progress is closed as its own step before another edit or an undo
        if self.history.in_stroke and self._tool is not None:
            self._tool.cancel()
        if self.history.in_stroke:
            self.history.end_stroke()

    # -- undo / redo -----------------------------------------------------------
    def undo(self) -> Box | None:
        """Undo the newest step (of any structure); returns the changed box or None."""
        self._interrupt()
        box = self.history.undo()
        self._after_history()
        return box

    def redo(self) -> Box | None:
        """Redo the newest undone step; returns the changed box or None."""
        self._interrupt()
        box = self.history.redo()
        self._after_history()
        return box

    def _after_history(self) -> None:
        for mask, box in self.history.last_changed:
            key = self._key_of(mask)
            if key is not None:
                self._changed(key, box)
        self.history.last_changed = []

    def _key_of(self, mask: Mask) -> Key | None:
        for key, m in self._working.items():
            if m is mask:
                return key
        return None

    def _changed(self, key: Key, box: Box) -> None:
        self._dirty[key] = True
        if self.on_change is not None:
            self.on_change(key, box)

    # -- state -------------------------------------------------------------------
    def stats(self, key: Key) -> EditStats:
        """Edit statistics of a working copy against its starting mask."""
        return edit_stats(self._start[key], self._working[key], self.spacing_zyx)

    def is_dirty(self, key: Key) -> bool:
        """Whether the working copy changed since it was opened or last saved."""
        return self._dirty[key]

    def dirty_keys(self) -> list[Key]:
        """Keys of the working copies with unsaved changes."""
        return [k for k, d in self._dirty.items() if d]

    def mark_saved(self, key: Key) -> None:
        """Clear the dirty flag after the working copy was written out."""
        self._dirty[key] = False
