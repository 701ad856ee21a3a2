"""Glue between the views and the Qt-free editing session: events in, re-rendered boxes out.

Saving runs on a worker thread; autosave writes the unsaved working copies to the recovery area
every 60 s, a few seconds after the last edit, and when the window loses focus.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore

from ..core.mask import Box, Mask
from ..core.names import validate_data_name, validate_source
from ..core.patient import Patient
from ..edit import recovery
from ..edit.constraint import EditConstraint
from ..edit.guidance import Guidance
from ..edit.hotspots import accept_region
from ..edit.options import find_option, set_option
from ..edit.polygon import PolygonTool
from ..edit.region import plane_axes
from ..edit.registry import tool_class, tool_classes, tool_names
from ..edit.session import EditSession
from ..edit.tool import EditEvent, EventKind, Tool
from ..edit.toolset import HOTSPOTS, ToolSet
from ..io.edits import newest_saved
from ..paths import user_data_dir
from ..render.colormaps import edit_colour
from ..render.scene import SceneRenderer
from .overrides import EditOverride

logger = logging.getLogger(__name__)

TOOL_ORDER = tool_names()
TOOL_LABELS = {c.name: c.label for c in tool_classes()}
AUTOSAVE_MS = 60_000


def recovery_area() -> Path:
    """Where autosaves live."""
    return user_data_dir() / "recovery"


class EditController(QtCore.QObject):
    """Owns the :class:`EditSession` of the patient on screen."""

    changed = QtCore.Signal()  # stats, dirty state or active structure changed
    redraw = QtCore.Signal(object)  # box that changed (None: everything)
    saved = QtCore.Signal(str)  # path of the new version
    unchanged = QtCore.Signal(str)  # a save that wrote nothing: "no changes since vNNN"
    save_failed = QtCore.Signal(str, object)  # message, keys
    structure_added = QtCore.Signal(object)  # scene key (name, source, frame)
    autosave_status = QtCore.Signal(object)  # why autosave fails (str), or None once it works again
    nothing_changed = QtCore.Signal(str)  # why a stroke, click or tool run changed nothing
    tool_used = QtCore.Signal(object)  # ToolUse of an interaction or a navigator action, for an interaction log
    _version_written = QtCore.Signal(object, object)  # key, snapshot: back on the UI thread

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.patient: Patient | None = None
        self.scene: SceneRenderer | None = None
        self.session: EditSession | None = None
        self.tool_name = "brush"
        self.settings = {c.name: c.default_settings() for c in tool_classes()}
        """Each tool's settings object, kept while the user switches tools (the panel edits these)."""
        self.settings["margin"].margin_mm = 2.0
        self.tool_set = ToolSet()
        """Tools the user may pick (a study session sets it, see :meth:`set_tool_set`)."""
        self._guides: dict[str, Guidance | None] = {}
        self._preview_keys: list[tuple[str, str, str]] = []
        self._preview_sig: tuple | None = None
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
        self._guides = {}
        self._preview_keys, self._preview_sig = [], None
        self.session = EditSession(
            patient.geometry.spacing_zyx, image=image, on_change=self._on_change, guidance=self.guidance
        )
        self.session.tool_set = self.tool_set
        self.session.tool_used.connect(self.tool_used.emit)
        self.parents = {}
        self._edit_colours = {}
        self._autosave_timer.start()
        self.set_tool(self.tool_name)
        self.changed.emit()

    def _bound(self) -> tuple[Patient, SceneRenderer, EditSession]:
        """The patient, renderer and edit session of :meth:`bind` (ValueError before a patient is bound)."""
        if self.patient is None or self.scene is None or self.session is None:
            raise ValueError("no patient is open for editing")
        return self.patient, self.scene, self.session

    def scene_key(self, key: tuple[str, str]) -> tuple[str, str, str]:
        """(name, source) -> the scene's (name, source, frame)."""
        return (key[0], key[1], self._bound()[0].reference_frame.name)

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
        patient, _scene, session = self._bound()
        src = patient.mask_obj(name, source)
        key = session.start_editing(name, src, target_source)
        if source == target_source:  # continuing a saved series: its start stays the mask it began from
            history = patient.versions(name, source)
            source = next((v.started_from for v in history if v.started_from), source)
        self.parents.setdefault(key, source)
        self.show_working(key)
        return key

    def new_structure(self, name: str, target_source: str) -> tuple[str, str]:
        """An empty structure to draw from scratch."""
        if self.override is not None:
            return self.override.new_structure(name, target_source)
        validate_data_name(name, "structure name")
        validate_source(target_source)
        patient, _scene, session = self._bound()
        key = session.new_structure(name, patient.geometry.shape_zyx, target_source)
        self.parents.setdefault(key, "")
        self.show_working(key)
        return key

    def copy_from(self, name: str, source: str, mode: str = "set") -> bool:
        """Replace (or add/remove) the active working copy with another structure (one undo step)."""
        if self.override is not None:
            return self.override.copy_from(name, source, mode)
        if self.active is None:
            return False
        patient, _scene, session = self._bound()
        return session.copy_from(self.active, patient.mask_obj(name, source), mode)

    def reset_to(self, name: str, source: str) -> bool:
        """Reset the active working copy to a source mask, e.g. back to the DL mask."""
        if self.override is not None:
            return self.override.reset_to(name, source)
        if self.active is None:
            return False
        patient, _scene, session = self._bound()
        return session.reset_to(self.active, patient.mask_obj(name, source))

    def show_working(self, key: tuple[str, str]) -> None:
        """Show the working copy of ``key`` in the views, visible and in its own edit colour."""
        skey = self.scene_key(key)
        _patient, scene, session = self._bound()
        scene.set_edited_mask(skey, session.working(key))
        st = scene.state.style(skey)
        st.visible = True
        if skey not in self._edit_colours:  # each edited structure its own colour, kept while it is open
            self._edit_colours[skey] = edit_colour(len(self._edit_colours))
        st.colour = self._edit_colours[skey]
        st.width = 2
        self.structure_added.emit(skey)
        self.set_tool(self.tool_name)
        self.changed.emit()

    # -- tools ------------------------------------------------------------------------
    @property
    def brush(self):
        """The brush's settings (its radius and 3-D flag are shared with every brush-like tool)."""
        return self.settings["brush"]

    def make_tool(self, name: str) -> Tool:
        """A tool bound to its settings object (changes in the panel reach the live tool)."""
        return tool_class(name)(self.settings[name])

    def why_not(self, name: str) -> str | None:
        """Why a tool cannot be picked now (forbidden in this session, or no folds / image), or None."""
        why = self.tool_set.why_not(name)
        if why is None and self.session is not None and self.session.context is not None:
            why = tool_class(name).unavailable(self.session.context)
        return why

    def set_tool(self, name: str) -> bool:
        """Switch tools (the undo history is kept); False, with the previous tool kept, when not permitted."""
        if self.tool_set.why_not(name) is not None:
            return False
        self.tool_name = name
        if self.session is not None:
            self.session.set_tool(self.make_tool(name))
        self.sync_previews()
        self.changed.emit()
        return True

    def set_tool_set(self, tool_set: ToolSet) -> None:
        """The tools a study arm and step permit; a forbidden current tool falls back to the brush."""
        self.tool_set = tool_set
        if self.session is not None:
            self.session.tool_set = tool_set
        if tool_set.why_not(self.tool_name) is not None:
            self.set_tool("brush" if tool_set.permits("brush") else next(n for n in TOOL_ORDER if tool_set.permits(n)))
        self.changed.emit()

    def option_changed(self, tool: str, name: str) -> None:
        """The panel changed ``name`` of ``tool``'s settings: share it where it is shared, refresh previews."""
        opt = find_option(tool_class(tool).options, name)
        if opt.shared is not None:
            value = getattr(self.settings[tool], name)
            for other in tool_classes():
                for o in other.options:
                    if o.shared == opt.shared and other.name != tool:
                        set_option(self.settings[other.name], o, value)
        current = self.session.tool if self.session is not None else None
        if current is not None:
            current.settings_changed()
        self.sync_previews()
        self.changed.emit()

    def set_brush_radius(self, radius_mm: float) -> None:
        """Brush radius in mm (0.5..50), for every tool that shares it."""
        opt = find_option(tool_class("brush").options, "radius_mm")
        set_option(self.brush, opt, radius_mm)
        self.option_changed("brush", "radius_mm")

    def apply_tool(self, axis: int, index: int) -> bool:
        """Enter / Apply: the active tool's whole-structure action, at the crosshair on slice ``index``."""
        if self.session is None or self.active is None or self.scene is None:
            return False
        cursor = list(self.scene.state.cursor)
        cursor[axis] = int(index)
        self.session.begin_action()
        changed = self.session.apply_tool(cursor, axis)
        self.sync_previews()
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
        if not isinstance(tool, PolygonTool) or not tool.vertices or tool.axis is None or tool.slice_index is None:
            return None
        ra, ca = plane_axes(tool.axis)
        out: list[tuple[float, float, float]] = []
        for r, c in tool.vertices:
            zyx = [float(tool.slice_index)] * 3
            zyx[ra], zyx[ca] = r, c
            out.append((zyx[0], zyx[1], zyx[2]))
        return tool.axis, int(tool.slice_index), out

    # -- guidance and previews -----------------------------------------------------------
    def guidance(self, name: str) -> Guidance | None:
        """The DL folds, uncertainty map and ensemble of structure ``name`` that are loaded (cached)."""
        if name in self._guides or self.patient is None:
            return self._guides.get(name)
        p = self.patient
        frame = p.reference_frame
        folds = []
        for (sname, source), ref in sorted(frame.structures.items()):
            if sname == name and source.startswith("nnUNet_fold_") and p.is_mask_loaded(ref):
                folds.append(p.mask_obj(sname, source))
        dl_ref = frame.structures.get((name, "nnUNet"))
        dl = p.mask_obj(name, "nnUNet") if dl_ref is not None and p.is_mask_loaded(dl_ref) else None
        unc = p.uncertainty(name)
        unc = unc if unc is not None and unc.loaded else None
        guide = Guidance(folds, unc, dl) if (folds or unc is not None) else None
        self._guides[name] = guide
        return guide

    def refresh_guidance(self) -> None:
        """Look the folds and uncertainty maps up again (more of them finished loading)."""
        self._guides = {}
        if self.session is not None:
            self.session.refresh_guidance()
        self.sync_previews()
        self.changed.emit()

    def active_guidance(self) -> Guidance | None:
        """The guidance of the structure being edited, if the session may show it."""
        if self.active is None:
            return None
        return self.guidance(self.active[0])

    def hotspots_allowed(self) -> bool:
        """Whether the hotspot navigator may be used in this session."""
        return self.tool_set.permits(HOTSPOTS)

    def sync_previews(self) -> None:
        """Show the active tool's preview outlines in the views (only when they changed)."""
        if self.scene is None:
            return
        tool = self.session.tool if self.session is not None else None
        sig = (id(tool), tool.preview_revision if tool is not None else None, self.active)
        if sig == self._preview_sig:
            return
        self._preview_sig = sig
        for key in self._preview_keys:
            self.scene.clear_edited_mask(key)
            self.scene.state.layers.pop(key, None)
        self._preview_keys = []
        if tool is not None and tool.active and self.active is not None and self.patient is not None:
            frame = self.patient.reference_frame.name
            for pv in tool.previews():
                key = (self.active[0], pv.label, frame)
                self.scene.set_edited_mask(key, pv.mask)
                st = self.scene.state.style(key)
                st.visible, st.colour, st.width = True, pv.colour, 1
                self._preview_keys.append(key)
        self.redraw.emit(None)

    def accept_low_uncertainty(self, threshold: float, band_mm: float = 3.0) -> tuple[float, int, int] | None:
        """Take the DL boundary where the uncertainty is below ``threshold`` (one undo step).

        Returns (share of the boundary accepted, voxels added, voxels removed), or None without a map.
        """
        guide = self.active_guidance()
        ctx = self.session.context if self.session is not None else None
        if guide is None or guide.uncertainty is None or guide.reference is None or ctx is None:
            return None
        found = accept_region(ctx.mask, guide.uncertainty, guide.reference, ctx.spacing_zyx, threshold, band_mm)
        if found is None:
            return None
        where, values, share = found
        pushed = ctx.history.steps_pushed
        ctx.apply_within(where, values)
        added, removed = ctx.history.newest_counts() if ctx.history.steps_pushed > pushed else (0, 0)
        return share, added, removed

    def set_constraint(self, constraint: EditConstraint | None) -> None:
        """Editable-area, intensity and lock constraints for every tool."""
        if self.session is not None:
            self.session.constraint = constraint

    def handle(
        self,
        kind: EventKind,
        axis: int,
        zyx,
        modifiers=frozenset(),
        key: str | None = None,
        button: str | None = "left",
    ) -> bool:
        """Feed one view event (press, move, release, click, key) to the active tool."""
        if self.session is None or self.active is None:
            return False
        index = int(round(zyx[axis])) if zyx is not None else 0
        ev = EditEvent(
            kind,
            axis,
            index,
            tuple(zyx) if zyx is not None else (0.0, 0.0, 0.0),
            button=button,
            modifiers=frozenset(modifiers),
            key=key,
        )
        if kind in ("press", "click"):
            self.session.begin_action()
        used = self.session.handle(ev)
        self.sync_previews()
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
        """Where saves go (configurable; default beside the dataset root, the home folder before a patient is open)."""
        if self.out_dir is not None:
            return self.out_dir
        return self.patient.default_out_dir() if self.patient is not None else Path.home()

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
        if self.session is None or self.patient is None:
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
                        before = newest_saved(target, patient, patient.reference_frame.name, key[0], key[1])
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
                        self._version_written.emit(key, mask)
                        if before is not None and Path(before.path) == Path(path):
                            self.unchanged.emit(
                                f"{key[0]} ({key[1]}): no changes since {before.label}; nothing written"
                            )
                            continue
                        written.append(path)
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
        if self.session is not None and key in self.session.keys() and self.session.working(key) == snapshot:  # noqa: SIM118 - EditSession.keys() is a method, not a dict
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
        edits: list[tuple[str, str, str | None, Mask, Mask | None]] = [
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
        patient, _scene, session = self._bound()
        for e in rec.edits:
            start = e.start if e.start is not None else Mask(patient.geometry.shape_zyx)
            key = session.start_editing(e.name, start, e.source)
            self.parents[key] = e.start_source or ""
            session.reset_to(key, e.mask)
            self.show_working(key)
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
