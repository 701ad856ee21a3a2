"""Editing in a study: the window's edit controller routed to the observer's session (a mixin of StudyMode).

Only the study's structures can be edited, from their start masks, after their ratings; every
save, autosave (4 s after the last edit, every 60 s, on focus loss, on minimise) and the save of
the case at its end go to ``session.submit_edit`` / ``finish_case``, which hand the masks to the
session's background writer: the window never waits for a file. A working copy is marked saved as
soon as its snapshot is handed over; the snapshot is kept until the session reports it written,
and put in the app's recovery area if the session cannot write it before it ends.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtCore

from ..core.mask import Mask
from ..edit import recovery
from ..study import ObserverSession, RatingsIncomplete, StudyError
from ..study.views import SavedEdit
from .edit_controller import recovery_area
from .interaction_log import InteractionLog
from .study_panel import StudyPanel

if TYPE_CHECKING:
    from ..core.patient import Patient
    from ..edit.session import EditSession
    from .main_window import MainWindow
    from .study_mode import StudyMode

logger = logging.getLogger(__name__)


class StudyEditing:
    """Structures, working copies and saves of a study session.

    The edit controller's calls are routed here during a study (:class:`StudyEdits`):
    :meth:`start_study_editing`, :meth:`replace_working_copy`, :meth:`save_to_study`,
    :meth:`autosave_to_study` and :meth:`confirm_discard_in_study`.
    """

    # What StudyMode gives its mixins, declared for the type checker.
    window: MainWindow
    session: ObserverSession | None
    log: InteractionLog
    panel: StudyPanel
    _loaded: tuple[int, str] | None
    _loaded_patient: Patient | None
    _in_flight: dict[tuple, tuple]
    """Edits handed to the session and not yet written: (step, pseudonym, key) -> (mask, start, parent)."""

    if TYPE_CHECKING:

        @property
        def active(self) -> bool: ...

        def update_panel(self) -> None: ...

        def inform(self, title: str, text: str, warning: bool = False) -> None: ...

        def redact(self, text: str) -> str: ...

        def _structure_centre(self, patient: Patient, name: str | None = None) -> tuple[int, int, int] | None: ...

    # -- structures ------------------------------------------------------------------------------------
    def _leave_structure(self) -> None:
        """Before another structure becomes active: keep the comment, save the edits, stop editing."""
        self.panel.flush_comment()
        self._save_or_rescue()
        self._close_working_copies()
        self.window.set_mouse_mode("navigate")

    def _close_working_copies(self, redraw: bool = True) -> None:
        """Drop the saved working copies (and their undo steps, so an undo cannot touch a structure left behind).

        The saved version stays on screen as the observer's own source; *Edit* reopens it.
        """
        ctrl = self.window.edit
        es = ctrl.session
        if es is None:
            return
        for key in es.keys():  # noqa: SIM118 - EditSession.keys() is a method returning a list, not a dict
            if es.is_dirty(key):
                continue  # not handed to the study (it refused): kept in memory
            es.close(key)
            if ctrl.scene is not None:
                ctrl.scene.clear_edited_mask(ctrl.scene_key(key))
        if es.active_key is not None:
            es.set_active(None)
        ctrl.changed.emit()
        if redraw and self.window.scene is not None:
            self.window.tri.refresh()

    def select_structure(self, name: str) -> None:
        """Make another structure of the case the active one (rated and edited next)."""
        s = self.session
        if s is None or not self.active:
            return
        view = s.current_case()
        if view is None or name == view.active_structure:
            return
        self._leave_structure()
        try:
            s.select_structure(name)
        except StudyError as e:
            self.inform("Structure", str(e), warning=True)
        c = self._structure_centre(self.window.patient, name) if self.window.patient is not None else None
        if c is not None and self.window.scene is not None:
            self.window.tri.set_cursor(c)
        self.window.edit_panel.select(name, s.study.start_source)
        self.update_panel()

    def next_structure(self) -> None:
        """The next structure of the case, in the study's order."""
        view = self.session.current_case() if self.session is not None and self.active else None
        if view is None:
            return
        names = list(view.structures)
        i = names.index(view.active_structure)
        if i + 1 < len(names):
            self.select_structure(names[i + 1])

    def edit_structure(self, name: str | None = None) -> tuple[str, str] | None:
        """Start (or continue) editing a structure; refused with a message until its ratings are complete."""
        if not self.active:
            return None
        try:
            key = self._open_working(name)
        except RatingsIncomplete as e:
            self.inform("Rate first", str(e))
            self.update_panel()
            return None
        except StudyError as e:
            self.inform("Cannot edit", self.redact(str(e)), warning=True)
            self.update_panel()
            return None
        self.window.choose_tool("brush")
        self.update_panel()
        return key

    def _open_working(self, name: str | None = None) -> tuple[str, str]:
        s, w = self.session, self.window
        if s is None:
            raise StudyError("no study session is open")
        view = s.current_case()
        ctrl = w.edit
        es = ctrl.session  # bound to the case when the window shows it
        if view is None or self._loaded_patient is None or w.patient is not self._loaded_patient or es is None:
            raise StudyError("there is no case to edit")
        name = name or view.active_structure
        if name != view.active_structure:
            if not s.can_edit(name):
                raise RatingsIncomplete(name, s.missing_ratings(name))
            self._leave_structure()
        mask = s.begin_editing(name)  # RatingsIncomplete until the ratings are given
        target = s.target_source
        key = (name, target)
        if key not in es.keys():  # noqa: SIM118 - EditSession.keys() is a method returning a list, not a dict
            start = s.start_mask(name)
            es.start_editing(name, start, target)  # statistics against the start (DL) mask
            if mask != start:  # resuming: continue from the saved version
                es.reset_to(key, mask)
                es.mark_saved(key)
        else:
            es.set_active(key)
        ctrl.parents[key] = s.study.start_source
        ctrl.show_working(key)
        self.log.sync()  # resuming from a saved version is not the observer's stroke
        w.edit_panel.select(name, s.study.start_source)
        return key

    # -- saving --------------------------------------------------------------------------------------
    def save_dirty(self, keys=None, tool: str = "lundprobe_gui study") -> list[tuple[str, str]]:
        """Hand unsaved working copies to the session's writer (a new version each); returns their keys.

        The copies are marked saved at once; the session writes them in order and retries a write
        that fails. Raises StudyError when the edits on screen are not the current case's.
        """
        s, w = self.session, self.window
        es = w.edit.session
        if s is None or not self.active or es is None:
            return []
        view = s.current_case()
        if view is None or (view.step, view.pseudonym) != self._loaded or w.patient is not self._loaded_patient:
            if es.dirty_keys():
                raise StudyError("the edits on screen do not belong to the current case")
            return []
        dirty = es.dirty_keys()
        keys = dirty if keys is None else [k for k in keys if k in dirty]
        handed = []
        for key in keys:
            if key[1] != s.target_source or key[0] not in s.structures:
                logger.warning("study mode: %s is not a study structure; not saved", key)
                continue
            snapshot = es.working(key).copy()
            token = (view.step, view.pseudonym, key)
            self._in_flight[token] = (snapshot, es.start_mask(key).copy(), w.edit.parents.get(key))
            s.submit_edit(snapshot, key[0], tool=tool, on_saved=functools.partial(self._edit_written, token))
            es.mark_saved(key)
            handed.append(key)
        if handed:
            w.edit.changed.emit()
            w.statusBar().showMessage(f"Saving {', '.join(k[0] for k in handed)}...", 3000)
        return handed

    def _edit_written(self, token: tuple, saved: SavedEdit) -> None:
        self._in_flight.pop(token, None)
        if self.active:
            self.window.statusBar().showMessage(f"Saved {saved.structure} ({saved.version_file.name})", 5000)
            self.update_panel()

    def _save_or_rescue(self, tool: str = "lundprobe_gui study") -> bool:
        """:meth:`save_dirty`; if the study refuses, keep the edits in the app's recovery area instead."""
        try:
            self.save_dirty(tool=tool)
            return True
        except Exception as e:
            logger.exception("saving the study edits failed")
            try:
                self.window.edit.recovery_autosave()  # the window's own recovery autosave
            except Exception:
                logger.exception("the recovery autosave failed too")
            self.inform(
                "Edits not saved to the study",
                f"{self.redact(str(e))}\nThe edits were kept in the app's recovery area.",
                warning=True,
            )
            return False

    def _rescue_in_flight(self) -> None:
        """Edits the session could not write before it closed: into the app's recovery area, never lost."""
        if not self._in_flight or self._loaded_patient is None:
            return
        p = self._loaded_patient
        edits = [(key[0], key[1], parent, m, start) for (_k, _p, key), (m, start, parent) in self._in_flight.items()]
        try:
            recovery.autosave(recovery_area(), p.path, p.id, edits)
            logger.warning("%d unsaved study edit(s) kept in the recovery area", len(edits))
        except OSError:
            logger.exception("the unsaved study edits could not be put in the recovery area")
        self._in_flight.clear()

    def finish_masks(self) -> dict[str, Mask]:
        """Copies of the current case's unsaved working copies, for ``finish_case``."""
        s, es = self.session, self.window.edit.session
        view = s.current_case() if s is not None else None
        if s is None or es is None or view is None or (view.step, view.pseudonym) != self._loaded:
            return {}
        return {k[0]: es.working(k).copy() for k in es.dirty_keys() if k[1] == s.target_source and k[0] in s.structures}

    # -- the edit controller, routed to the study -----------------------------------------------------
    def start_study_editing(self, name: str, source: str, target_source: str) -> tuple[str, str]:
        """``EditController.start_editing`` in a study: a study structure from its start mask, after the ratings."""
        s, w = self.session, self.window
        if s is None:
            raise ValueError("no study session is open")
        ref = w.patient.reference_frame.structures.get((name, source)) if w.patient is not None else None
        if (
            name not in s.structures
            or source not in (s.study.start_source, s.target_source)
            or not s.can_open(source, ref.path if ref is not None else None)
        ):
            raise ValueError(
                f"{name} ({source}) cannot be edited in this study: edits start from {s.study.start_source}"
            )
        if target_source != s.target_source:
            raise ValueError(f"in this study step edits are saved as {s.target_source}")
        try:
            key = self._open_working(name)
        except StudyError as e:
            raise ValueError(str(e)) from e
        finally:
            QtCore.QTimer.singleShot(0, self.update_panel)
        return key

    def replace_working_copy(
        self, name: str, source: str, fn: Callable[[EditSession, tuple[str, str], Mask], bool]
    ) -> bool:
        """``EditController.copy_from`` / ``reset_to`` in a study: ``fn(session, active key, mask)``.

        The mask is the whole structure ``(name, source)``, only from a source the study lets the
        observer see and never the observer's own target source; False (with a message in the status
        bar) when no working copy is active or the mask is not available.
        """
        s, w = self.session, self.window
        es, key = w.edit.session, w.edit.active
        if s is None or es is None or key is None or w.patient is None:
            return False
        ref = w.patient.reference_frame.structures.get((name, source))
        if ref is None or not s.can_open(source, ref.path) or source == s.target_source:
            w.statusBar().showMessage(f"{name} ({source}) is not available in this study", 5000)
            return False
        return fn(es, key, w.patient.mask_obj(name, source))

    def save_to_study(
        self,
        keys: list[tuple[str, str]] | None = None,
        out_dir: Path | None = None,
        background: bool = True,
        on_done: Callable[[list[Path]], None] | None = None,
    ) -> None:
        """``EditController.save`` in a study: a new version through the session (``out_dir`` and ``background``
        are ignored: the session decides where, and always writes in the background)."""
        es = self.window.edit.session
        if keys is None and es is not None and es.active_key is not None:
            keys = [es.active_key]
        try:
            handed = self.save_dirty(keys=keys)
        except StudyError as e:
            self.inform("Not saved", self.redact(str(e)), warning=True)
            handed = []
        if not handed:
            self.window.statusBar().showMessage("Nothing new to save", 3000)
        if on_done is not None:
            on_done([])
        return None

    def autosave_to_study(self) -> None:
        """``EditController.autosave`` in a study (4 s after an edit, every 60 s, on focus loss, on close)."""
        s = self.session
        if s is None or not self.active:
            return
        try:
            self.save_dirty(tool="lundprobe_gui study autosave")
        except Exception as e:  # noqa: BLE001 - logged and shown; the next save retries
            logger.error("study autosave failed: %s", e)
            self.window.edit.report_autosave(self.redact(str(e)))
        else:
            if s.save_failure is None:
                self.window.edit.report_autosave(None)

    def confirm_discard_in_study(self) -> bool:
        """``MainWindow.confirm_discard`` in a study: nothing to ask, everything is saved to the study."""
        self._save_or_rescue()
        return True


class StudyEdits:
    """The edit controller's :class:`~lundprobe_gui.ui.overrides.EditOverride` during a study."""

    def __init__(self, mode: StudyMode) -> None:
        self.mode = mode

    def start_editing(self, name: str, source: str, target_source: str) -> tuple[str, str]:
        return self.mode.start_study_editing(name, source, target_source)

    def new_structure(self, name: str, target_source: str) -> tuple[str, str]:
        raise ValueError("new structures cannot be drawn in a study session: edit the study's structures")

    def copy_from(self, name: str, source: str, mode: str = "set") -> bool:
        return self.mode.replace_working_copy(name, source, lambda es, key, m: es.copy_from(key, m, mode))

    def reset_to(self, name: str, source: str) -> bool:
        return self.mode.replace_working_copy(name, source, lambda es, key, m: es.reset_to(key, m))

    def save(
        self,
        keys: list[tuple[str, str]] | None = None,
        out_dir: Path | None = None,
        background: bool = True,
        on_done: Callable[[list[Path]], None] | None = None,
    ) -> None:
        self.mode.save_to_study(keys, out_dir, background, on_done)

    def autosave(self) -> None:
        self.mode.autosave_to_study()

    def find_recovery(self) -> None:
        """None: the study's edits are saved to the study, never to the recovery area."""
        return None

    def discard_recovery(self) -> None:
        """Nothing to discard (see :meth:`find_recovery`)."""
