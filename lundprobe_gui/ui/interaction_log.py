"""The window's interactions, as events of the open session's log (``sessions/<obs>.events.jsonl``).

What is logged, and when:

* ``tool``: another editing tool was chosen (with the brush radius);
* ``stroke``: an interaction that became an undo step, with the tool, its size, the structure,
  the voxels it added and removed, the box it touched (z, y, x ranges) and, where the structure's
  uncertainty map is loaded (never in a step that hides it), the mean uncertainty under the
  changed voxels; ``undo`` and ``redo`` likewise;
* ``slice``: the cursor moved (logged at most twice a second, with the final position);
* ``layer``: the uncertainty map, the dose or the structures were switched on or off (read from
  the display state every second); a study also counts the time the map is on screen;
* ``tool_use``: an action of a guided aid that is not an edit (the hotspot navigator's moves,
  reviews and acceptances), as the edit controller reports it (``tool_used``); an edit's report
  (the fold vote's k...) goes into its ``stroke`` as ``details``.

The log uses only the window's public signals and the editing history; the active-time events
(input, minimise, focus) come from :class:`~lundprobe_gui.ui.session_mode.SessionMode`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6 import QtCore

from ..edit.constraint import read_image
from ..session.errors import SessionError

logger = logging.getLogger(__name__)

SLICE_EVERY_S = 0.5


def _stacks(history: Any) -> tuple[list, list]:
    """The undo and redo steps of an editing history (oldest first)."""
    return list(getattr(history, "_undo", ())), list(getattr(history, "_redo", ()))


def _step_changes(step: Any) -> tuple[int, int, list | None, list]:
    """(voxels added, voxels removed, union box, [(box, changed voxels)]) of one undo step."""
    added = removed = 0
    box = None
    parts = []
    for p in step.patches:
        before, after = p.blocks()
        added += int(np.count_nonzero(after & ~before))
        removed += int(np.count_nonzero(before & ~after))
        parts.append((p.box, before ^ after))
        b = [list(r) for r in p.box]
        box = b if box is None else [[min(a[0], c[0]), max(a[1], c[1])] for a, c in zip(box, b)]
    return added, removed, box, parts


class InteractionLog(QtCore.QObject):
    """Forwards the window's interactions to ``session.log_event`` while :meth:`start` is in force.

    Parameters
    ----------
    window : MainWindow
        The window whose views, edit controller and display state are watched.
    session : callable
        Returns the open session (or None).
    """

    def __init__(self, window, session: Callable[[], Any]) -> None:
        super().__init__(window)
        self.window = window
        self._session = session
        self._on = False
        self._tool: tuple | None = None
        self._use: dict | None = None
        self._history: tuple | None = None
        self._layers: dict | None = None
        self._slice: tuple | None = None
        self._slice_logged = 0.0
        self._slice_timer = QtCore.QTimer(self)
        self._slice_timer.setSingleShot(True)
        self._slice_timer.timeout.connect(self._flush_slice)
        self.layer_changed: Callable[[dict, dict], None] | None = None
        """Called with (before, after) display snapshots when a layer was switched (study: the map's time)."""

    def start(self) -> None:
        """Begin logging."""
        if self._on:
            return
        self._on = True
        w = self.window
        w.patient_shown.connect(self._patient_shown)
        w.edit.changed.connect(self._edit_changed)
        w.tri.cursor_changed.connect(self._cursor_changed)
        if hasattr(w.edit, "tool_used"):
            w.edit.tool_used.connect(self._tool_used)
        for v in w.tri.views.values():  # a stroke becomes an undo step on release, which changes no voxel
            v.dragged.connect(self._view_event)
            v.clicked.connect(self._view_event)
        self._tool = self._tool_now()
        self._history = self._known_steps()
        self._layers = self.display_state()

    def stop(self) -> None:
        """Stop logging (a pending slice move is logged first)."""
        if not self._on:
            return
        self._flush_slice()
        self.poll()
        w = self.window
        w.patient_shown.disconnect(self._patient_shown)
        w.edit.changed.disconnect(self._edit_changed)
        w.tri.cursor_changed.disconnect(self._cursor_changed)
        if hasattr(w.edit, "tool_used"):
            w.edit.tool_used.disconnect(self._tool_used)
        for v in w.tri.views.values():
            v.dragged.disconnect(self._view_event)
            v.clicked.disconnect(self._view_event)
        self._on = False

    def _log(self, kind: str, **fields: Any) -> None:
        s = self._session()
        if s is None or s.closed:
            return
        try:
            s.log_event(kind, **fields)
        except (SessionError, OSError):
            logger.debug("could not log %s", kind, exc_info=True)

    # -- tools and strokes -------------------------------------------------------------------------
    def _tool_now(self) -> tuple:
        ctrl = self.window.edit
        return (ctrl.tool_name, round(float(ctrl.brush.radius_mm), 2))

    def _known_steps(self) -> tuple[int | None, dict[int, str]]:
        """The history and where each of its steps is (``undo`` or ``redo``), by identity."""
        es = self.window.edit.session
        if es is None:
            return None, {}
        undo, redo = _stacks(es.history)
        return id(es.history), {**{id(x): "undo" for x in undo}, **{id(x): "redo" for x in redo}}

    def sync(self) -> None:
        """Take the editing history as it is now without logging it (a working copy was opened or reset by the app)."""
        if self._on:
            self._history = self._known_steps()

    def _patient_shown(self, _patient) -> None:
        self.sync()  # the window's new editing session starts empty

    def _tool_used(self, use: Any) -> None:
        """A tool or aid reported its use: an edit's details wait for its stroke, other actions are logged."""
        d = use.to_dict() if hasattr(use, "to_dict") else dict(use)
        if d.get("action") == "edit":  # reported once its undo step exists: log the stroke now
            self._use = d
            self._edit_changed()
            return
        names = {"structure": "edited", "target": "target_source"}
        self._log("tool_use", **{names.get(k, k): v for k, v in d.items() if v not in ("", None, {})})

    def _view_event(self, *_args) -> None:
        QtCore.QTimer.singleShot(0, self._edit_changed)  # after the window has handed the event to the tool

    def _edit_changed(self) -> None:
        if not self._on:
            return
        tool = self._tool_now()
        if tool != self._tool:
            self._tool = tool
            self._log("tool", tool=tool[0], radius_mm=tool[1])
        es = self.window.edit.session
        if es is not None and es.history.in_stroke:
            return  # the step is recorded when the stroke ends
        hist, where = self._known_steps()
        before_hist, before = self._history if self._history is not None else (None, {})
        before = dict(before)
        self._history = (hist, where)
        if es is None:
            return
        if hist != before_hist:  # a new editing session (another case) that the log has not seen yet
            before = {}
        undo, redo = _stacks(es.history)
        by_id = {id(x): x for x in undo + redo}
        for sid in where:  # new steps first (a stroke, then perhaps its undo, in one go)
            if sid not in before:
                self._stroke(es, by_id[sid])
                before[sid] = "undo"  # where it was before anything undid it
        for sid, place in where.items():
            was = before.get(sid)
            if was == "undo" and place == "redo":
                added, removed, box, _ = _step_changes(by_id[sid])
                self._log("undo", voxels_added=removed, voxels_removed=added, box=box)
            elif was == "redo" and place == "undo":
                added, removed, box, _ = _step_changes(by_id[sid])
                self._log("redo", voxels_added=added, voxels_removed=removed, box=box)

    def _stroke(self, es: Any, step: Any) -> None:
        added, removed, box, parts = _step_changes(step)
        key = es.active_key
        use, self._use = self._use, None
        fields: dict[str, Any] = {
            "tool": use["tool"] if use else self.window.edit.tool_name,
            "radius_mm": round(float(self.window.edit.brush.radius_mm), 2),
            "edited": key[0] if key else None,
            "voxels_added": added,
            "voxels_removed": removed,
            "box": box,
        }
        if use and use.get("details"):
            fields["details"] = use["details"]
        mean = self._mean_uncertainty(key[0] if key else None, parts)
        if mean is not None:
            fields["mean_uncertainty"] = round(mean, 5)
        self._log("stroke", **fields)

    def _mean_uncertainty(self, name: str | None, parts: list) -> float | None:
        """Mean of the structure's uncertainty map under the changed voxels, where it may be shown and is loaded."""
        w = self.window
        if name is None or not parts or w.patient is None or w.state is None or not w.state.uncertainty_allowed:
            return None
        vol = w.patient.reference_frame.uncertainty.get(name)
        if vol is None or not vol.loaded:
            return None
        total, n = 0.0, 0
        try:
            for box, changed in parts:
                values = np.asarray(read_image(vol, box), np.float64)
                total += float(values[changed].sum())
                n += int(np.count_nonzero(changed))
        except Exception:  # a log detail must never break editing
            logger.debug("uncertainty under a stroke could not be read", exc_info=True)
            return None
        return total / n if n else None

    # -- slices and layers -------------------------------------------------------------------------------
    def _cursor_changed(self, zyx) -> None:
        self._slice = tuple(int(v) for v in zyx)
        if time.monotonic() - self._slice_logged >= SLICE_EVERY_S:
            self._flush_slice()
        elif not self._slice_timer.isActive():
            self._slice_timer.start(int(SLICE_EVERY_S * 1000))

    def _flush_slice(self) -> None:
        if self._slice is None:
            return
        z, y, x = self._slice
        self._slice = None
        self._slice_logged = time.monotonic()
        self._log("slice", cursor=[z, y, x])

    def display_state(self) -> dict:
        """What is switched on in the window now (the layers the log records)."""
        st = self.window.state
        if st is None:
            return {}
        return {
            "uncertainty": bool(st.uncertainty.visible and st.uncertainty_allowed and st.uncertainty.maps),
            "uncertainty_maps": sorted(st.uncertainty.maps)
            if st.uncertainty.visible and st.uncertainty_allowed
            else [],
            "dose_wash": bool(st.dose.wash and st.dose_allowed),
            "isodose": bool(st.dose.lines and st.dose_allowed),
            "structures": bool(st.structures_on),
        }

    def poll(self) -> None:
        """Log the layers switched since the last poll (called every second, and before the session ends)."""
        if not self._on:
            return
        now = self.display_state()
        before, self._layers = self._layers, now
        if before is None or before == now or not now:
            return
        for layer in ("uncertainty", "dose_wash", "isodose", "structures"):
            if before.get(layer) != now.get(layer):
                self._log("layer", layer=layer, visible=now.get(layer))
        if self.layer_changed is not None:
            self.layer_changed(before, now)

    def reset_layers(self) -> None:
        """Take the display state as it is now without logging it (a new case was shown)."""
        self._layers = self.display_state()
