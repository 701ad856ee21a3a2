"""Glue between the views and the Qt-free editing session: events in, re-rendered boxes out.

Saving runs on a worker thread; autosave writes the unsaved working copies to the recovery area
every 60 s, a few seconds after the last edit, and when the window loses focus.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

from PySide6 import QtCore

from ..core.mask import Box, Mask
from ..core.names import validate_data_name, validate_source
from ..core.patient import Patient
from ..edit import recovery
from ..edit.brush import BrushSettings, BrushTool, EraserTool
from ..edit.constraint import EditConstraint
from ..edit.fill_holes import FillHolesSettings, FillHolesTool
from ..edit.interpolate import InterpolateSettings, InterpolateTool
from ..edit.islands import IslandsSettings, IslandsTool
from ..edit.margin import MarginSettings, MarginTool
from ..edit.polygon import PolygonSettings, PolygonTool
from ..edit.region import plane_axes
from ..edit.session import EditSession
from ..edit.smooth import SmoothSettings, SmoothTool
from ..edit.tool import EditEvent, Tool
from ..paths import user_data_dir
from ..render.colormaps import edit_colour
from ..render.scene import SceneRenderer
from .overrides import EditOverride

logger = logging.getLogger(__name__)

TOOL_ORDER = ("brush", "eraser", "polygon", "fill_holes", "islands", "interpolate", "margin", "smooth")
TOOL_LABELS = {
    "brush": "Brush",
    "eraser": "Eraser",
    "polygon": "Polygon / lasso",
    "fill_holes": "Fill holes",
    "islands": "Remove islands",
    "interpolate": "Fill between slices",
    "margin": "Grow / shrink",
    "smooth": "Smooth",
}
AUTOSAVE_MS = 60_000


def recovery_area() -> Path:
    """Where autosaves live."""
    return user_data_dir() / "recovery"


class EditController(QtCore.QObject):
    """Owns the :class:`EditSession` of the patient on screen."""

    changed = QtCore.Signal()  # stats, dirty state or active structure changed
    redraw = QtCore.Signal(object)  # box that changed (None: everything)
    saved = QtCore.Signal(str)  # path of the new version
    save_failed = QtCore.Signal(str, object)  # message, keys
    structure_added = QtCore.Signal(object)  # scene key (name, source, frame)
    autosave_status = QtCore.Signal(object)  # why autosave fails (str), or None once it works again
    nothing_changed = QtCore.Signal(str)  # why a stroke, click or tool run changed nothing
    _version_written = QtCore.Signal(object, object)  # key, snapshot: back on the UI thread

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.patient: Patient | None = None
        self.scene: SceneRenderer | None = None
        self.session: EditSession | None = None
        self.tool_name = "brush"
        self.brush = BrushSettings(radius_mm=5.0, three_d=False, mode="add")
        self.polygon_mode = "add"
        self.fill_3d = False
        self.islands_keep = "largest"
        self.margin_mm = 2.0
        self.smooth = SmoothSettings("closing", 2.0)
        self.out_dir: Path | None = None
        self.user: str | None = None
        self.parents: dict[tuple[str, str], str] = {}
        self._edit_colours: dict[tuple[str, str, str], tuple[int, int, int]] = {}
        self.override: EditOverride | None = None
        """Set by a study session: start, save, autosave and recovery go to it instead."""
        self._save_lock = threading.Lock()
        self.autosave_error: str | None = None
        self._autosave_timer = QtCore.QTimer(self)
        self._autosave_timer.setInterval(AUTOSAVE_MS)
        self._autosave_timer.timeout.connect(self.autosave)
        self._debounce = QtCore.QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(4000)
        self._debounce.timeout.connect(self.autosave)
        self.saved.connect(lambda _p: self.changed.emit())
        self._version_written.connect(self._mark_saved)

    # -- binding ---------------------------------------------------------------------
    def bind(self, patient: Patient, scene: SceneRenderer) -> None:
        """Start a fresh session for a patient (the previous one must be saved or discarded first)."""
        self.patient, self.scene = patient, scene
        image = patient.image()
        self.session = EditSession(patient.geometry.spacing_zyx, image=image, on_change=self._on_change)
        self.parents = {}
        self._edit_colours = {}
        self._autosave_timer.start()
        self.set_tool(self.tool_name)
        self.changed.emit()

    def scene_key(self, key: tuple[str, str]) -> tuple[str, str, str]:
        """(name, source) -> the scene's (name, source, frame)."""
        return (key[0], key[1], self.patient.reference_frame.name)

    @property
    def active(self) -> tuple[str, str] | None:
        """The structure being edited."""
        return None if self.session is None else self.session.active_key

    # -- choosing what to edit ------------------------------------------------------------
    def start_editing(self, name: str, source: str, target_source: str) -> tuple[str, str]:
        """Edit a working copy of (name, source) saved under ``target_source``; inputs never change."""
        if self.override is not None:
            return self.override.start_editing(name, source, target_source)
        validate_source(target_source)
        src = self.patient.mask_obj(name, source)
        key = self.session.start_editing(name, src, target_source)
        self.parents.setdefault(key, source)
        self._show_working(key)
        return key

    def new_structure(self, name: str, target_source: str) -> tuple[str, str]:
        """An empty structure to draw from scratch."""
        if self.override is not None:
            return self.override.new_structure(name, target_source)
        validate_data_name(name, "structure name")
        validate_source(target_source)
        key = self.session.new_structure(name, self.patient.geometry.shape_zyx, target_source)
        self.parents.setdefault(key, "")
        self._show_working(key)
        return key

    def copy_from(self, name: str, source: str, mode: str = "set") -> bool:
        """Replace (or add/remove) the active working copy with another structure (one undo step)."""
        if self.override is not None:
            return self.override.copy_from(name, source, mode)
        if self.active is None:
            return False
        return self.session.copy_from(self.active, self.patient.mask_obj(name, source), mode)

    def reset_to(self, name: str, source: str) -> bool:
        """Reset the active working copy to a source mask, e.g. back to the DL mask."""
        if self.override is not None:
            return self.override.reset_to(name, source)
        if self.active is None:
            return False
        return self.session.reset_to(self.active, self.patient.mask_obj(name, source))

    def _show_working(self, key: tuple[str, str]) -> None:
        skey = self.scene_key(key)
        self.scene.set_edited_mask(skey, self.session.working(key))
        st = self.scene.state.style(skey)
        st.visible = True
        if skey not in self._edit_colours:  # each edited structure its own colour, kept while it is open
            self._edit_colours[skey] = edit_colour(len(self._edit_colours))
        st.colour = self._edit_colours[skey]
        st.width = 2
        self.structure_added.emit(skey)
        self.set_tool(self.tool_name)
        self.changed.emit()

    # -- tools ------------------------------------------------------------------------
    def make_tool(self, name: str) -> Tool:
        """A tool with the current settings."""
        if name == "brush":
            return BrushTool(BrushSettings(self.brush.radius_mm, self.brush.three_d, "add"))
        if name == "eraser":
            return EraserTool(BrushSettings(self.brush.radius_mm, self.brush.three_d, "remove"))
        if name == "polygon":
            return PolygonTool(PolygonSettings(self.polygon_mode))
        if name == "fill_holes":
            return FillHolesTool(FillHolesSettings(self.fill_3d))
        if name == "islands":
            return IslandsTool(IslandsSettings(self.islands_keep))
        if name == "interpolate":
            return InterpolateTool(InterpolateSettings(0))
        if name == "margin":
            return MarginTool(MarginSettings(self.margin_mm))
        if name == "smooth":
            return SmoothTool(SmoothSettings(self.smooth.operation, self.smooth.radius_mm))
        raise KeyError(f"unknown tool {name!r}")

    def set_tool(self, name: str) -> None:
        """Switch tools; the undo history is kept."""
        self.tool_name = name
        if self.session is not None:
            self.session.set_tool(self.make_tool(name))
        self.changed.emit()

    def set_brush_radius(self, radius_mm: float) -> None:
        """Brush radius in mm (0.5..50)."""
        self.brush.radius_mm = float(min(max(radius_mm, 0.5), 50.0))
        if self.tool_name in ("brush", "eraser"):
            self.set_tool(self.tool_name)

    def apply_tool(self, axis: int, index: int) -> bool:
        """Run a whole-structure tool (fill holes, islands, interpolate, margin, smooth) once."""
        tool = self.session.tool if self.session else None
        if tool is None or self.active is None:
            return False
        if isinstance(tool, InterpolateTool):
            tool = InterpolateTool(InterpolateSettings(axis))
            self.session.set_tool(tool)
        self.session.begin_action()
        if isinstance(tool, FillHolesTool):
            changed = tool.run(axis, index)
        elif isinstance(tool, PolygonTool):
            changed = tool.finish()
        elif hasattr(tool, "run"):
            changed = tool.run()
        else:
            return False
        if not changed:
            self._report_unchanged("Nothing changed")
        return changed

    def _report_unchanged(self, default: str | None = None) -> None:
        reason = (self.session.nothing_changed_reason() if self.session is not None else None) or default
        if reason:
            self.nothing_changed.emit(reason)

    def polygon_in_progress(self) -> tuple[int, int, list[tuple[float, float, float]]] | None:
        """(axis, slice, vertices as voxel z, y, x) of a polygon being placed, or None."""
        tool = self.session.tool if self.session is not None else None
        if not isinstance(tool, PolygonTool) or not tool.vertices or tool.axis is None:
            return None
        ra, ca = plane_axes(tool.axis)
        out = []
        for r, c in tool.vertices:
            zyx = [float(tool.slice_index)] * 3
            zyx[ra], zyx[ca] = r, c
            out.append(tuple(zyx))
        return tool.axis, int(tool.slice_index), out

    def set_constraint(self, constraint: EditConstraint | None) -> None:
        """Editable-area, intensity and lock constraints for every tool."""
        if self.session is not None:
            self.session.constraint = constraint

    def handle(self, kind: str, axis: int, zyx, modifiers=frozenset(), key: str | None = None) -> bool:
        """Feed one view event (press, move, release, click, key) to the active tool."""
        if self.session is None or self.active is None:
            return False
        index = int(round(zyx[axis])) if zyx is not None else 0
        ev = EditEvent(
            kind,
            axis,
            index,
            tuple(zyx) if zyx is not None else (0.0, 0.0, 0.0),
            modifiers=frozenset(modifiers),
            key=key,
        )
        if kind in ("press", "click"):
            self.session.begin_action()
        used = self.session.handle(ev)
        if kind in ("release", "click"):
            self._report_unchanged()
        return used

    # -- history ------------------------------------------------------------------------
    def undo(self) -> Box | None:
        """Undo one step."""
        return None if self.session is None else self.session.undo()

    def redo(self) -> Box | None:
        """Redo one step."""
        return None if self.session is None else self.session.redo()

    def _on_change(self, key: tuple[str, str], box: Box) -> None:
        if self.scene is not None:
            self.scene.invalidate(self.scene_key(key), box)
        self.redraw.emit(box)
        self._debounce.start()
        self.changed.emit()

    # -- saving -------------------------------------------------------------------------
    def dirty(self) -> list[tuple[str, str]]:
        """Working copies with unsaved changes."""
        return [] if self.session is None else self.session.dirty_keys()

    def output_dir(self) -> Path:
        """Where saves go (configurable; default beside the dataset root)."""
        return self.out_dir or self.patient.default_out_dir()

    def save(
        self,
        keys: list[tuple[str, str]] | None = None,
        out_dir: Path | None = None,
        background: bool = True,
        on_done: Callable[[list[Path]], None] | None = None,
    ) -> threading.Thread | None:
        """Save working copies (the active one by default) as new versions, off the UI thread.

        The masks are snapshotted first, so editing can go on while the files are written. A failure
        (no permission, disk full) emits ``save_failed`` and keeps every edit in memory.
        """
        if self.override is not None:
            return self.override.save(keys, out_dir, background, on_done)
        if self.session is None:
            return None
        keys = keys if keys is not None else ([self.active] if self.active else [])
        jobs = [(k, self.session.working(k).copy(), self.session.stats(k)) for k in keys]
        target = out_dir or self.output_dir()
        patient = self.patient

        def work() -> None:
            written = []
            try:
                with self._save_lock:
                    for key, mask, stats in jobs:
                        path = patient.save_mask(
                            key[0],
                            mask,
                            source=key[1],
                            out_dir=target,
                            tool="lundprobe_gui editor",
                            user=self.user,
                            stats=_stats_dict(stats),
                            started_from=self.parents.get(key),
                        )
                        written.append(path)
                        self._version_written.emit(key, mask)
                        self.saved.emit(str(path))
            except Exception as e:  # noqa: BLE001 - shown to the user, edits stay in memory
                logger.error("save failed: %s", e)
                self.save_failed.emit(f"Saving to {target} failed: {e}", [k for k, _, _ in jobs])
            if on_done is not None:
                on_done(written)

        if not background:
            work()
            return None
        t = threading.Thread(target=work, name="save-mask", daemon=False)
        t.start()
        return t

    def _mark_saved(self, key, snapshot: Mask) -> None:
        # Only clean when nothing changed since the snapshot was taken.
        if self.session is not None and key in self.session.keys() and self.session.working(key) == snapshot:
            self.session.mark_saved(key)
        self.autosave()
        self.changed.emit()

    # -- autosave and recovery -------------------------------------------------------------
    def autosave(self) -> None:
        """Keep unsaved working copies safe: :meth:`recovery_autosave`, or the override's way."""
        if self.override is not None:
            self.override.autosave()
        else:
            self.recovery_autosave()

    def recovery_autosave(self) -> None:
        """Write unsaved working copies to the recovery area (or clear it when all is saved)."""
        if self.session is None or self.patient is None:
            return
        edits = [
            (k[0], k[1], self.parents.get(k), self.session.working(k), self.session.start_mask(k))
            for k in self.session.dirty_keys()
        ]
        try:
            recovery.autosave(recovery_area(), self.patient.path, self.patient.id, edits)
        except OSError as e:
            logger.warning("autosave failed: %s", e)
            self.report_autosave(f"{e.strerror or e} ({e.filename or recovery_area()})")
        else:
            self.report_autosave(None)

    def report_autosave(self, error: str | None) -> None:
        """Record whether the last autosave worked (None) or why not; the window shows it while it fails."""
        if error != self.autosave_error:
            self.autosave_error = error
            self.autosave_status.emit(error)

    def find_recovery(self) -> recovery.Recovery | None:
        """An autosave of this patient, if a previous run ended with unsaved edits."""
        if self.override is not None:
            return self.override.find_recovery()
        if self.patient is None:
            return None
        return recovery.find(recovery_area(), self.patient.path)

    def restore(self, rec: recovery.Recovery) -> list[tuple[str, str]]:
        """Reopen the recovered working copies (each restore is one undo step)."""
        keys = []
        for e in rec.edits:
            start = e.start if e.start is not None else Mask(self.patient.geometry.shape_zyx)
            key = self.session.start_editing(e.name, start, e.source)
            self.parents[key] = e.start_source or ""
            self.session.reset_to(key, e.mask)
            self._show_working(key)
            keys.append(key)
        return keys

    def discard_recovery(self) -> None:
        """Forget this patient's autosave."""
        if self.override is not None:
            self.override.discard_recovery()
            return
        if self.patient is not None:
            recovery.clear(recovery_area(), self.patient.path)


def _stats_dict(stats) -> dict:
    return {
        "added_cc": round(stats.added_cc, 4),
        "removed_cc": round(stats.removed_cc, 4),
        "dice_vs_start": None if stats.dice is None else round(stats.dice, 6),
        "slices_touched": len(stats.slices_touched),
        "voxels_added": int(stats.added_voxels),
        "voxels_removed": int(stats.removed_voxels),
    }
