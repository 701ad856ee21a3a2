"""Study mode: the main window as an observer's reader-study workstation (issue 5, "An observer's session").

``install_study_mode(window)`` adds a *Study* menu and a (hidden) *Study* dock to a
:class:`~lundprobe_gui.ui.main_window.MainWindow`. *Study > Start study...* asks for the study
folder and the observer ID and opens an :class:`~lundprobe_gui.study.ObserverSession`. While it
runs:

* cases come one at a time, labelled by pseudonym ("Case 07"); the window title, the panel and the
  status bar never show the patient ID or a path. The patient browser, the recent patients and
  File > Open are out of reach, other docks and menus that could show other layers are disabled,
  and the problems list shows no file names;
* the viewer state is blinded by the session's :class:`~lundprobe_gui.study.Visibility`: hidden
  sources are neither loaded nor listed, nor offered by the edit panel, and every layer the study
  opens passes ``session.can_open(source, path)``; the uncertainty shows only in the steps that
  allow it, on the fixed 0-0.5 scale;
* the ratings come first: *Edit* starts only when ``missing_ratings`` is empty, and it opens the
  working copy (``begin_editing``) in the window's edit session under ``step<k>_<observer>``;
* every save goes through ``session.save_edit``: the edit controller's save, autosave (4 s after
  the last edit, every 60 s, on focus loss) and the unsaved-changes prompt are routed to the study,
  so a crash loses nothing and the next *Start study* resumes at the same case and structure;
* user input (mouse, keys, wheel) is forwarded to ``session.activity()`` at most once a second;
  minimising the window pauses the clock.

While the study runs, the window's and its edit controller's ``override`` (see
:mod:`~lundprobe_gui.ui.overrides`) are :class:`_StudyWindow` and :class:`_StudyEdits`; docks,
menus and actions are disabled, and :class:`_ExitSteps` undoes all of it at the end.
Every prompt goes through a method of :class:`StudyMode` (``choose_study_dir``, ``ask_observer``,
``ask``, ``ask_pin``, ``ask_reason``, ``choose_case``, ``inform``) that tests replace.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.mask import Mask
from ..core.names import InvalidName, validate_observer
from ..core.patient import Patient
from ..edit.toolset import ToolSet
from ..io.open import NoImageError, open_patient
from ..render.state import ViewerState
from ..study import (
    COMPLETE,
    WAITING,
    AdminRequired,
    CaseView,
    CorruptStudyFile,
    ObserverSession,
    RatingFrozen,
    RatingsIncomplete,
    SessionLocked,
    StudyError,
    authorise_admin,
    load_study,
)
from ..study.clock import parse_iso
from ..study.files import output_root
from . import gui_thread, study_dialogs
from .layer_panel import KEY_ROLE, KIND_ROLE
from .main_window import default_state
from .study_panel import PanelCase, StructureInfo, StudyPanel

logger = logging.getLogger(__name__)

STUDY_DOCK = "Study"
ALLOWED_DOCKS = frozenset({"Layers", "Display", "Edit", "Problems", STUDY_DOCK})
"""Docks that stay usable during a study; any other dock (patients, metrics, DVH...) is hidden."""
KNOWN_MENUS = frozenset({"&File", "&View", "&Edit", "&Help", "&Study"})
"""Menus whose study-relevant actions are handled one by one; the actions of any other menu are disabled."""
DISABLED_ACTIONS = ("open_patient", "open_dataset", "output_dir")
ACTIVITY_INTERVAL_S = 1.0
PANEL_WIDTH = 430
POLL_WASHOUT_S = 60.0
_INPUT_EVENTS = frozenset(
    {
        QtCore.QEvent.Type.MouseButtonPress,
        QtCore.QEvent.Type.MouseButtonDblClick,
        QtCore.QEvent.Type.MouseMove,
        QtCore.QEvent.Type.Wheel,
        QtCore.QEvent.Type.KeyPress,
    }
)


def install_study_mode(window) -> "StudyMode":
    """Add the Study menu and dock to a main window; returns the :class:`StudyMode` (also ``window.study_mode``)."""
    mode = StudyMode(window)
    window.study_mode = mode
    return mode


# -- loading a case's layers -------------------------------------------------------------------
@dataclass
class CasePlan:
    """What to load for a case, decided on the UI thread from the blinding rules."""

    first_volumes: list = field(default_factory=list)
    first_masks: list = field(default_factory=list)
    volumes: list = field(default_factory=list)
    masks: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.first_volumes) + len(self.first_masks) + len(self.volumes) + len(self.masks)


def case_plan(patient: Patient, session: ObserverSession) -> CasePlan:
    """The layers of the current case an observer may see: never a hidden source, no uncertainty in step 1."""
    vis = session.visibility()
    frame = patient.reference_frame
    plan = CasePlan()
    mri = frame.images.get("image") or next(iter(frame.images.values()), None)
    if mri is not None:
        plan.first_volumes.append(mri)
    start = session.study.start_source
    for name in session.structures:
        ref = frame.structures.get((name, start))
        if ref is not None and session.can_open(ref.source, ref.path):
            plan.first_masks.append(ref)
    plan.volumes.extend(frame.doses.values())
    if vis.uncertainty_allowed:
        plan.volumes.extend(frame.uncertainty.values())
    plan.volumes.extend(v for v in frame.images.values() if v is not mri)
    plan.masks.extend(
        r for r in frame.structures.values() if r not in plan.first_masks and session.can_open(r.source, r.path)
    )
    return plan


def load_case(
    patient: Patient,
    plan: CasePlan,
    cancel: threading.Event | None = None,
    sink: "CaseLoader | None" = None,
    workers: int = 2,
) -> None:
    """Load the planned layers (the MRI and start masks first); usable without Qt when ``sink`` is None."""
    cancel = cancel or threading.Event()
    if sink is not None:
        gui_thread.bind(patient)  # shown in the window: structures change only in the GUI thread
    for v in plan.first_volumes:
        patient.load_volume(v)
    for ref in plan.first_masks:
        patient.try_load_mask(ref)
    if cancel.is_set():
        return
    if sink is not None:
        sink.image_ready.emit(patient)
    jobs: list[Callable[[], Any]] = [lambda v=v: patient.load_volume(v) for v in plan.volumes]
    jobs += [lambda r=r: patient.try_load_mask(r) for r in plan.masks]
    done = 0

    def run(job):
        if not cancel.is_set():
            job()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(run, jobs):
            done += 1
            if sink is not None and not cancel.is_set():
                sink.progress.emit(done, len(jobs))
    if sink is not None and not cancel.is_set():
        sink.finished.emit(patient)


class CaseLoader(QtCore.QObject):
    """Runs :func:`load_case` on a worker thread and reports through signals (queued to the UI thread)."""

    image_ready = QtCore.Signal(object)
    progress = QtCore.Signal(int, int)
    finished = QtCore.Signal(object)
    failed = QtCore.Signal(str)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None

    def start(self, patient: Patient, plan: CasePlan, cancel: threading.Event) -> None:
        """Load in the background."""
        self._thread = threading.Thread(
            target=self._run, args=(patient, plan, cancel), daemon=True, name="study-case-loader"
        )
        self._thread.start()

    def _run(self, patient: Patient, plan: CasePlan, cancel: threading.Event) -> None:
        try:
            load_case(patient, plan, cancel, self)
        except Exception as e:  # noqa: BLE001 - reported to the observer, never crashes the app
            logger.error("loading a study case failed: %s", traceback.format_exc())
            if not cancel.is_set():
                self.failed.emit(str(e))

    def wait(self, timeout: float | None = None) -> None:
        """Block until the worker ends (tests, screenshots)."""
        if self._thread is not None:
            self._thread.join(timeout)


# -- undoing the window's adaptation to a study -----------------------------------------------
class _ExitSteps:
    """Undo steps of the window's adaptation to a study, run in reverse order when it ends."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def on_exit(self, fn: Callable[[], None]) -> None:
        self._undo.append(fn)

    def restore(self) -> None:
        while self._undo:
            fn = self._undo.pop()
            try:
                fn()
            except Exception:  # noqa: BLE001 - restore as much as possible
                logger.exception("study mode: restoring the window failed")


class _InputFilter(QtCore.QObject):
    """Application-wide filter: calls ``callback`` on user input (the study mode throttles it)."""

    def __init__(self, callback: Callable[[], None], parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.callback = callback

    def eventFilter(self, obj: QtCore.QObject, ev: QtCore.QEvent) -> bool:  # noqa: N802
        if ev.type() in _INPUT_EVENTS:
            self.callback()
        return False


# -- the study mode --------------------------------------------------------------------------------
class StudyMode(QtCore.QObject):
    """Runs one observer's session in a main window (see the module docstring)."""

    case_shown = QtCore.Signal(object)  # CaseView
    started = QtCore.Signal()
    ended = QtCore.Signal()

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.session: ObserverSession | None = None
        self.study_dir: Path | None = None
        self.background = True
        """Load the case layers on a worker thread (tests set False to load synchronously)."""
        self._loaded: tuple[int, str] | None = None
        self._loaded_patient: Patient | None = None
        self._cancel = threading.Event()
        self._exit_steps = _ExitSteps()
        self._last_activity = 0.0
        self._last_poll = 0.0
        self._minimised = False
        self._refresh_queued = False
        self._before_study: Path | None = None

        self.loader = CaseLoader(self)
        self.loader.image_ready.connect(self._on_case_image)
        self.loader.progress.connect(self._on_case_progress)
        self.loader.finished.connect(self._on_case_loaded)
        self.loader.failed.connect(self._on_case_failed)
        self.input_filter = _InputFilter(self._on_input, self)
        self._tick = QtCore.QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._on_tick)

        self.panel = StudyPanel()
        self.dock = QtWidgets.QDockWidget(STUDY_DOCK, window)
        self.dock.setObjectName(STUDY_DOCK)
        self.dock.setWidget(self.panel)  # the panel scrolls its questions itself
        self.dock.setFeatures(
            QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        window.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        self.dock.toggleViewAction().setEnabled(False)
        self.dock.hide()
        self.panel.rated.connect(self._on_rated)
        self.panel.comment_edited.connect(self._on_comment)
        self.panel.structure_chosen.connect(self.select_structure)
        self.panel.edit_requested.connect(lambda: self.edit_structure())
        self.panel.next_requested.connect(self.next_structure)
        self.panel.finish_requested.connect(lambda: self.finish_case())
        self.panel.unlock_requested.connect(self.admin_unlock)
        self.panel.override_requested.connect(self.admin_override_washout)
        self.panel.end_requested.connect(self.end)

        self._build_menu()
        window.installEventFilter(self)
        window.patient_shown.connect(self._on_patient_shown)
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.end)

    # -- prompts (tests replace these) --------------------------------------------------------------
    def choose_study_dir(self) -> Path | None:
        """The study folder, or None when cancelled."""
        d = QtWidgets.QFileDialog.getExistingDirectory(self.window, "Open study folder", str(Path.home()))
        return Path(d) if d else None

    def ask_observer(self, study) -> str | None:
        """The observer ID, or None when cancelled."""
        return study_dialogs.ask_observer_id(self.window, getattr(study, "name", ""))

    def ask(self, text: str, info: str, buttons: tuple[str, ...]) -> str:
        """A question with buttons; returns the button chosen (the window's prompt by default)."""
        return self.window.ask(text, info, buttons)

    def ask_pin(self, text: str) -> str | None:
        """The admin PIN, or None when cancelled."""
        return study_dialogs.ask_pin(self.window, text)

    def ask_reason(self, text: str) -> str | None:
        """A reason for the audit log, or None when cancelled."""
        return study_dialogs.ask_reason(self.window, text)

    def choose_case(self, title: str, items: list[str]) -> str | None:
        """One of ``items`` (finished cases by pseudonym), or None when cancelled."""
        return study_dialogs.choose_item(self.window, title, "Case:", items)

    def inform(self, title: str, text: str, warning: bool = False) -> None:
        """Tell the observer something (a message box)."""
        study_dialogs.inform(self.window, title, text, warning)

    # -- menu -------------------------------------------------------------------------------------
    def _build_menu(self) -> None:
        w = self.window
        mb = w.menuBar()
        self.menu = QtWidgets.QMenu("&Study", w)
        help_action = next((a for a in mb.actions() if a.menu() is not None and a.text() == "&Help"), None)
        if help_action is not None:
            mb.insertMenu(help_action, self.menu)
        else:
            mb.addMenu(self.menu)
        self.start_action = self.menu.addAction("Start study...", self.start_dialog)
        self.end_action = self.menu.addAction("End study session", self.end)
        self.end_action.setEnabled(False)
        self.menu.addSeparator()
        self.unlock_action = self.menu.addAction("Admin: unlock a finished case...", self.admin_unlock)
        self.override_action = self.menu.addAction("Admin: override the washout...", self.admin_override_washout)
        self._update_menu()

    def _update_menu(self) -> None:
        on = self.active
        admin = on and self.session.study.admin is not None
        self.start_action.setEnabled(not on)
        self.end_action.setEnabled(on)
        self.unlock_action.setVisible(admin)
        self.override_action.setVisible(admin)
        waiting = on and self.session.status() == WAITING
        self.override_action.setEnabled(admin and waiting)
        self.panel.set_admin(admin, waiting)

    # -- starting and ending ------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether a study session runs in this window."""
        return self.session is not None and not self.session.closed

    def start_dialog(self) -> bool:
        """Study > Start study: ask for the folder and the observer, then start."""
        if self.active:
            self.inform("Study", "A study session is already running in this window.")
            return False
        d = self.choose_study_dir()
        if not d:
            return False
        try:
            study = load_study(d)
        except StudyError as e:
            self.inform("Cannot open the study", f"The study files cannot be read:\n{e}", warning=True)
            return False
        while True:
            obs = self.ask_observer(study)
            if not obs:
                return False
            obs = obs.strip()
            if study_dialogs.valid_observer_id(obs):
                break
            self.inform(
                "Observer ID", f"{obs!r} is not a valid observer ID: use letters, digits, _ and - only.", warning=True
            )
        return self.start(d, obs)

    def start(self, study_dir: str | Path, observer: str) -> bool:
        """Open ``observer``'s session of the study and show its current case (resuming where it stopped)."""
        if self.active:
            return False
        review = getattr(self.window, "review_mode", None)
        if review is not None and getattr(review, "session", None) is not None:
            self.inform("AI review open", "End the AI review before starting a reader-study session.")
            return False
        try:
            validate_observer(observer)
        except InvalidName as e:
            self.inform("Observer ID", str(e), warning=True)
            return False
        if not self.window.confirm_discard():
            return False
        try:
            s = ObserverSession(study_dir, observer)
        except SessionLocked as e:
            self.inform(
                "Session already open",
                f"{observer} already has an open session of this study, so it cannot be opened twice:\n{e}",
                warning=True,
            )
            return False
        except CorruptStudyFile as e:
            self.inform("Cannot open the study", f"A study file is damaged; nothing was changed:\n{e}", warning=True)
            return False
        except StudyError as e:
            self.inform("Cannot start the study", str(e), warning=True)
            return False
        except OSError as e:
            self.inform("Cannot start the study", f"The study folder cannot be used: {e}", warning=True)
            return False
        if s.status() == COMPLETE:
            s.close()
            self.inform("Study finished", f"{observer} has finished every step of this study. Thank you!")
            return False
        self.session = s
        self.study_dir = Path(study_dir)
        self._loaded = None
        s.changed.connect(self._on_session_changed)
        self._enter_study_ui()
        self.panel.set_questions(s.questions)
        name = s.study.name or self.study_dir.name
        self.panel.set_observer(f"{name}: observer {observer}")
        self._update_menu()
        self.started.emit()
        self.refresh()
        if s.status() == WAITING:
            self.inform("Waiting for the washout", self._waiting_text())
        return True

    def end(self) -> None:
        """End the session: save unsaved edits through the study, close it (lock released) and restore the window."""
        if self.session is None:
            return
        s = self.session
        try:
            if not s.closed:
                self.panel.flush_comment()
                self._save_or_rescue()
        finally:
            self._cancel.set()
            try:
                s.close()
            except Exception:  # noqa: BLE001
                logger.exception("closing the study session failed")
            s.changed.disconnect(self._on_session_changed)
            self.session = None
            self._loaded = None
            self._leave_study_ui()
            self._update_menu()
            self.ended.emit()

    # -- the window in study mode -------------------------------------------------------------------
    def _enter_study_ui(self) -> None:
        w, P = self.window, self._exit_steps
        # undone last: the docks come back where they were, at their sizes, not squeezed by the study panel
        layout = w.saveState()
        P.on_exit(lambda: w.restoreState(layout))
        self._before_study = w.patient.path if w.patient is not None else None
        for dock in w.findChildren(QtWidgets.QDockWidget):
            if dock is self.dock or dock.objectName() in ALLOWED_DOCKS:
                continue
            was, tv = dock.isVisible(), dock.toggleViewAction()
            dock.hide()
            tv.setEnabled(False)
            P.on_exit(lambda d=dock, v=was: (d.setVisible(v), d.toggleViewAction().setEnabled(True)))
        browser = getattr(w, "browser", None)
        if browser is not None:
            root = getattr(w, "_dataset_root", None)
            browser.setRowCount(0)
            P.on_exit(lambda r=root: w.show_dataset(r) if r is not None else None)
        for name in DISABLED_ACTIONS:
            a = w.actions.get(name)
            if a is not None:
                a.setEnabled(False)
                P.on_exit(lambda a=a: a.setEnabled(True))
        recent = getattr(w, "recent_menu", None)
        if recent is not None:  # hidden and emptied: its entries are patient folders
            recent.menuAction().setVisible(False)
            recent.setEnabled(False)
            recent.clear()
            P.on_exit(lambda: (recent.menuAction().setVisible(True), self._rebuild_recent()))
        for a in w.menuBar().actions():
            m = a.menu()
            if m is None or m is self.menu or a.text() in KNOWN_MENUS:
                continue
            for sub in [a, *_all_actions(m)]:
                if sub.isEnabled():
                    sub.setEnabled(False)
                    P.on_exit(lambda s_=sub: s_.setEnabled(True))
        policy = w.contextMenuPolicy()
        w.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.NoContextMenu)  # no dock toggles from the popup
        P.on_exit(lambda: w.setContextMenuPolicy(policy))
        drops = w.acceptDrops()
        w.setAcceptDrops(False)
        P.on_exit(lambda: w.setAcceptDrops(drops))
        ep = w.edit_panel
        target = ep.target.text()
        P.on_exit(lambda: ep.target.setText(target))
        ep.target.setReadOnly(True)
        ep.new_btn.setEnabled(False)
        ep.new_name.setEnabled(False)
        P.on_exit(lambda: (ep.target.setReadOnly(False), ep.new_btn.setEnabled(True), ep.new_name.setEnabled(True)))
        for box in (w.display.scale, w.display.unc_colours):  # the study fixes the uncertainty scale
            box.setEnabled(False)
            P.on_exit(lambda b=box: b.setEnabled(True))
        ctrl = w.edit
        out_dir, user = ctrl.out_dir, ctrl.user
        ctrl.out_dir = output_root(self.study_dir)
        ctrl.user = self.session.observer
        P.on_exit(lambda: (setattr(ctrl, "out_dir", out_dir), setattr(ctrl, "user", user)))
        # the window's own paths that would open, list or remember other patients, and the edit
        # controller's: every save goes to the study, only the study's structures can be edited
        w.override, ctrl.override = _StudyWindow(self), _StudyEdits(self)
        P.on_exit(lambda: (setattr(w, "override", None), setattr(ctrl, "override", None)))
        P.on_exit(lambda: ctrl.report_autosave(None))  # the study's own autosave failures end with the session
        self.dock.show()
        self.dock.raise_()
        layers = next((d for d in w.findChildren(QtWidgets.QDockWidget) if d.objectName() == "Layers"), None)
        w.resizeDocks([self.dock], [PANEL_WIDTH], QtCore.Qt.Orientation.Horizontal)
        if layers is not None and w.dockWidgetArea(layers) == w.dockWidgetArea(self.dock):
            w.resizeDocks([layers, self.dock], [180, max(400, w.height() - 260)], QtCore.Qt.Orientation.Vertical)
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.installEventFilter(self.input_filter)
            P.on_exit(lambda: app.removeEventFilter(self.input_filter))
        self._minimised = bool(w.windowState() & QtCore.Qt.WindowState.WindowMinimized)
        self._tick.start()
        P.on_exit(self._tick.stop)
        w.setWindowTitle("lundprobe_gui - Study")

    def _leave_study_ui(self) -> None:
        w = self.window
        self._exit_steps.restore()
        w.edit.set_tool_set(ToolSet())
        self.dock.hide()
        # the last case stays in memory, but is not shown or listed any more
        self._unshow_patient()
        w.setWindowTitle("lundprobe_gui")
        w.statusBar().showMessage("Study session ended; everything is saved", 8000)
        before, self._before_study = self._before_study, None
        if before is not None:  # the window goes back to the patient it showed before, not a blank one
            w.open_path(before)

    def _rebuild_recent(self) -> None:
        w = self.window
        rebuild = getattr(w, "_rebuild_recent", None)
        if rebuild is not None:
            rebuild()
            return
        for p in w.recent():  # pragma: no cover - the window changed
            w.recent_menu.addAction(p, lambda p=p: w.open_path(p))
        w.recent_menu.setEnabled(bool(w.recent()))

    def views_shown(self) -> bool:
        """Whether the slice views show a case (they are blanked between cases and after the study)."""
        return self.window.tri.views[0].isVisibleTo(self.window.tri)

    def _show_views(self, on: bool) -> None:
        """Blank or show the slice views; the central area keeps its size, so the docks do not grow."""
        tri = self.window.tri
        if not on and tri.maximised is not None:
            tri.toggle_maximise()
        for v in tri.views.values():
            v.setVisible(on)
        tri.info.setVisible(on)

    def _unshow_patient(self) -> None:
        w = self.window
        self._show_views(False)
        w.layers.clear()
        w.edit_panel.populate([])
        w.problems.clear()
        w.problems_dock.hide()
        if w.edit.session is not None and w.edit.session.active_key is not None:
            w.edit.session.set_active(None)
            w.edit.changed.emit()

    def _on_patient_shown(self, _patient) -> None:
        if not self.views_shown():
            self._show_views(True)

    def _refused_open(self, *_a, **_k) -> None:
        self.window.statusBar().showMessage("Other patients cannot be opened during a study session", 5000)

    def _show_problems(self) -> None:
        """The Problems panel without file names, paths or patient IDs."""
        w = self.window
        w.problems.clear()
        if w.patient is None:
            return
        for p in w.patient.problems:
            w.problems.addItem(f"[{p.kind}] {self._redact(p.message)}")
        w.problems_dock.setVisible(bool(w.patient.problems))

    def _redact(self, text: str) -> str:
        """Replace the current patient's ID and folders with the pseudonym."""
        s = self.session
        p = self._loaded_patient
        label = self._loaded[1] if self._loaded else "the case"
        if p is not None:
            for secret in (str(p.path), str(p.dataset_root or ""), p.id):
                if secret:
                    text = text.replace(secret, label)
        if s is not None and self.study_dir is not None:
            text = text.replace(str(s.dataset_root), "<dataset>")
        return text

    # -- blinding -------------------------------------------------------------------------------------
    def blinded_state(self, patient: Patient) -> ViewerState:
        """The window's initial state of a case with the session's blinding applied (``MainWindow.make_state``)."""
        s = self.session
        state = default_state(patient)
        vis = s.visibility()
        vis.apply(state, patient.sources())
        # tools that would show what the step hides (fold vote: folds; navigator: uncertainty) are refused
        self.window.edit.set_tool_set(ToolSet.for_step(vis.hidden_categories, vis.uncertainty_allowed))
        frame = patient.reference_frame
        start, own = s.study.start_source, s.target_source
        for name, source in frame.structures:
            st = state.style((name, source, frame.name))
            st.visible = state.allowed(source) and name in s.structures and source in (start, own)
        state.uncertainty.maps = set(frame.uncertainty) if vis.uncertainty_allowed else set()
        state.uncertainty.visible = vis.uncertainty_allowed
        state.uncertainty.colours = "rainbow"  # the dataset's scale, as the published study showed it
        if vis.uncertainty_scale in ("fixed", "per_map"):
            state.uncertainty.scale = vis.uncertainty_scale  # type: ignore[assignment]
        c = self._structure_centre(patient)
        if c is not None:
            state.cursor = c
        return state

    def _structure_centre(self, patient: Patient, name: str | None = None) -> tuple[int, int, int] | None:
        s = self.session
        try:
            view = s.current_case()
            name = name or (view.active_structure if view else None)
            if name is None:
                return None
            m = patient.mask_obj(name, s.study.start_source, patient.reference_frame.name)
        except (KeyError, ValueError, StudyError):
            return None
        if m.is_empty():
            return None
        idx = np.argwhere(m.data)
        c = idx.mean(axis=0) + np.asarray(m.offset)
        return tuple(int(round(v)) for v in c)  # type: ignore[return-value]

    def _prune_layer_panel(self) -> None:
        """Remove any layer row ``can_open`` refuses (the panel already skips hidden sources)."""
        s, w = self.session, self.window
        frame = w.patient.reference_frame
        it = QtWidgets.QTreeWidgetItemIterator(w.layers)
        doomed = []
        while it.value():
            item = it.value()
            if item.data(0, KIND_ROLE) == "structure":
                key = item.data(0, KEY_ROLE)
                ref = frame.structures.get((key[0], key[1]))
                if not s.can_open(key[1], ref.path if ref is not None else None):
                    doomed.append(item)
            it += 1
        for item in doomed:
            logger.warning("study mode: %s refused by the blinding rules", item.data(0, KEY_ROLE))
            (item.parent() or w.layers.invisibleRootItem()).removeChild(item)

    def editable(self) -> list[tuple[str, str]]:
        """What the edit panel's "Start from" offers: the start mask of each study structure."""
        s, w = self.session, self.window
        frame = w.patient.reference_frame
        out = []
        for name in s.structures:
            ref = frame.structures.get((name, s.study.start_source))
            if ref is not None and s.can_open(ref.source, ref.path):
                out.append((name, ref.source))
        return out

    # -- the current case ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Show whatever the session says is current: a (new) case, the washout wait, or the end."""
        self._refresh_queued = False
        s = self.session
        if not self.active:
            return
        view = s.current_case()
        if view is None:
            self._show_no_case()
            self._update_menu()
            return
        key = (view.step, view.pseudonym)
        if key != self._loaded or self.window.patient is not self._loaded_patient:
            self._show_case(view)
        self.update_panel()
        self._update_menu()

    def _queue_refresh(self) -> None:
        if not self._refresh_queued:
            self._refresh_queued = True
            QtCore.QTimer.singleShot(0, self.refresh)

    def _on_session_changed(self, kind: str, **details) -> None:
        if kind in ("case", "case_finished", "step_completed", "case_unlocked", "washout_overridden"):
            self._queue_refresh()

    def _show_case(self, view: CaseView) -> None:
        s, w = self.session, self.window
        self._cancel.set()
        self._cancel = threading.Event()
        try:
            # A fresh model for every case: ``session.patient()`` would reuse the previous case's model
            # when step 2 starts with the patient step 1 ended with, and that model still holds the
            # step-1 edits registered by ``save_mask`` (hidden, but in memory).
            patient = open_patient(s.patient_path(), edits=False)
            s.attach_patient(patient)
        except (StudyError, NoImageError, OSError, ValueError) as e:
            self._loaded, self._loaded_patient = (view.step, view.pseudonym), None
            self.inform(
                "Cannot open the case", f"{view.pseudonym} cannot be opened:\n{self._redact(str(e))}", warning=True
            )
            return
        self._loaded, self._loaded_patient = (view.step, view.pseudonym), patient
        w.set_patient(patient, self.blinded_state(patient))  # remembering and listing go to _StudyWindow
        self._show_views(True)
        w.setWindowTitle(f"lundprobe_gui - Study - {view.pseudonym} (step {view.step})")
        self._prune_layer_panel()
        w.edit_panel.populate(self.editable())
        w.edit_panel.select(view.active_structure, s.study.start_source)
        w.edit_panel.target.setText(s.target_source)
        w.set_mouse_mode("navigate")
        w.statusBar().showMessage(f"{view.pseudonym}: loading...")
        plan = case_plan(patient, s)
        if self.background:
            w.progress.setVisible(True)
            w.progress.setRange(0, max(1, len(plan)))
            w.progress.setValue(0)
            self.loader.start(patient, plan, self._cancel)
        else:
            load_case(patient, plan, self._cancel)
            self._on_case_image(patient)
            self._on_case_loaded(patient)
        self.case_shown.emit(view)

    def _on_case_image(self, patient: Patient) -> None:
        w = self.window
        if patient is not w.patient or w.scene is None or not self.active:
            return
        w.display.sync(w.scene.window(w.display.current_window_key()))
        w.tri.refresh()
        w.tri.reset_zoom()

    def _on_case_progress(self, done: int, total: int) -> None:
        self.window.progress.setRange(0, max(1, total))
        self.window.progress.setValue(done)
        self.window.progress.setFormat(f"{done}/{total} layers")

    def _on_case_loaded(self, patient: Patient) -> None:
        w = self.window
        if patient is not w.patient or w.scene is None or not self.active:
            return
        w.progress.setVisible(False)
        w.scene.invalidate()
        w.tri.update_colour_bars()
        w.tri.refresh()
        w.show_problems()
        label = self._loaded[1] if self._loaded else "Case"
        w.statusBar().showMessage(f"{label}: ready", 5000)

    def _on_case_failed(self, message: str) -> None:
        self.window.progress.setVisible(False)
        self.inform("Cannot load the case", self._redact(message), warning=True)

    def wait_loaded(self, timeout: float = 30.0) -> None:
        """Wait for the background loader (tests, screenshots)."""
        self.loader.wait(timeout)

    def _show_no_case(self) -> None:
        s, w = self.session, self.window
        self._cancel.set()
        self._loaded, self._loaded_patient = None, None
        self._unshow_patient()
        w.setWindowTitle("lundprobe_gui - Study")
        if s.status() == WAITING:
            self.panel.show_message("Waiting for the washout", self._waiting_text())
        else:
            self.panel.show_message(
                "All steps are finished",
                "You have finished every case of every step. Thank you!\nEnd the study session to close it.",
            )

    def _waiting_text(self) -> str:
        prog = self.session.progress()
        if prog.state != WAITING or prog.step is None:
            return prog.text
        if prog.available_at:
            try:
                when = datetime.datetime.fromtimestamp(parse_iso(prog.available_at)).astimezone()
                opens = f"Step {prog.step} opens on {when:%A %d %B %Y at %H:%M} ({when:%Z})"
            except ValueError:
                opens = prog.text
        else:
            opens = f"Step {prog.step} opens after step {prog.step - 1} is finished"
        return (
            f"Step {prog.step - 1} is finished. {opens}.\nThe cases are shown again only after the washout; "
            "only the study administrator can override it."
        )

    def update_panel(self) -> None:
        """Rebuild the panel from the session."""
        s = self.session
        if not self.active:
            return
        view = s.current_case()
        if view is None:
            return
        rec = self._case_record(view)
        infos = []
        for name in view.structures:
            srec = rec.structures[name] if rec is not None else None
            infos.append(
                StructureInfo(
                    name,
                    not s.missing_ratings(name),
                    bool(srec and srec.editing_started_at),
                    int(srec.saves) if srec else 0,
                )
            )
        active = view.active_structure
        srec = rec.structures[active] if rec is not None else None
        prog = s.progress()
        ctrl = self.window.edit
        case = PanelCase(
            observer=s.observer,
            step=view.step,
            step_title=view.step_title,
            instructions=view.instructions,
            pseudonym=view.pseudonym,
            position=view.position,
            total=view.total,
            finished=prog.finished,
            progress_text=prog.text,
            structures=tuple(infos),
            active=active,
            ratings={qid: a.value for qid, a in s.ratings(active).items()},
            missing=tuple(s.missing_ratings(active)),
            frozen=bool(srec and srec.editing_started_at),
            editing_now=ctrl.session is not None and ctrl.active == (active, s.target_source),
            can_finish=all(i.rated for i in infos),
            uncertainty_shown=s.visibility().uncertainty_allowed,
        )
        self.panel.show_case(case)
        self._show_time()

    def _case_record(self, view: CaseView):
        rec = self.session.state.steps.get(view.step)
        if rec is None:
            return None
        return next((c for c in rec.cases if c.pseudonym == view.pseudonym), None)

    def _panel_matches(self) -> bool:
        """The panel shows the session's current case and structure (so an answer goes where it is seen)."""
        view = self.session.current_case() if self.active else None
        pc = self.panel.case
        return (
            view is not None and pc is not None and (pc.pseudonym, pc.active) == (view.pseudonym, view.active_structure)
        )

    # -- ratings --------------------------------------------------------------------------------------
    def _on_rated(self, qid: str, value: Any) -> None:
        if not self._panel_matches():
            self.update_panel()
            return
        try:
            self.session.rate(qid, value, structure=self.panel.case.active)
        except RatingFrozen as e:
            self.inform(
                "Rating fixed",
                f"{e}\nScale answers rate the starting segmentation, so they cannot change once editing has begun.",
            )
        except StudyError as e:
            self.inform("Rating not saved", str(e), warning=True)
        self.update_panel()

    def _on_comment(self, qid: str, text: str) -> None:
        if not self._panel_matches():
            return
        name = self.panel.case.active
        old = self.session.ratings(name).get(qid)
        if (old.value if old is not None else "") == text:
            return
        try:
            self.session.rate(qid, text, structure=name)
        except StudyError as e:
            self.inform("Comment not saved", str(e), warning=True)
        self.update_panel()

    def rate(self, qid: str, value: Any) -> None:
        """Answer a question for the active structure as if the observer used the panel (scripts, tests)."""
        if qid in self.panel.likert:
            b = self.panel.likert[qid].button(int(value))
            if b is None:
                raise ValueError(f"{value!r} is not on the {qid} scale")
            b.click()
        elif qid in self.panel.texts:
            self.panel.texts[qid].setPlainText(str(value))
            self.panel.flush_comment()
        else:
            raise KeyError(qid)

    # -- structures and editing -----------------------------------------------------------------------
    def _leave_structure(self) -> None:
        """Before another structure becomes active: keep the comment, save the edits, stop editing."""
        self.panel.flush_comment()
        self._save_or_rescue()
        self._close_working_copies()
        self.window.set_mouse_mode("navigate")

    def _close_working_copies(self) -> None:
        """Drop the saved working copies (and their undo steps, so an undo cannot touch a structure left behind).

        The saved version stays on screen as the observer's own source; *Edit* reopens it.
        """
        ctrl = self.window.edit
        es = ctrl.session
        if es is None:
            return
        for key in es.keys():
            if es.is_dirty(key):
                continue  # not saved (the study refused): kept in memory
            es.close(key)
            if ctrl.scene is not None:
                ctrl.scene.clear_edited_mask(ctrl.scene_key(key))
        if es.active_key is not None:
            es.set_active(None)
        ctrl.changed.emit()
        if self.window.scene is not None:
            self.window.tri.refresh()

    def select_structure(self, name: str) -> None:
        """Make another structure of the case the active one (rated and edited next)."""
        s = self.session
        if not self.active:
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
        view = self.session.current_case() if self.active else None
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
            self.inform("Cannot edit", self._redact(str(e)), warning=True)
            self.update_panel()
            return None
        self.window.choose_tool("brush")
        self.update_panel()
        return key

    def _open_working(self, name: str | None = None) -> tuple[str, str]:
        s, w = self.session, self.window
        view = s.current_case()
        if view is None:
            raise StudyError("there is no case to edit")
        name = name or view.active_structure
        if name != view.active_structure:
            if not s.can_edit(name):
                raise RatingsIncomplete(name, s.missing_ratings(name))
            self._leave_structure()
        mask = s.begin_editing(name)  # RatingsIncomplete until the ratings are given
        ctrl = w.edit
        es = ctrl.session
        target = s.target_source
        key = (name, target)
        if key not in es.keys():
            start = s.start_mask(name)
            es.start_editing(name, start, target)  # statistics against the start (DL) mask
            if mask != start:  # resuming: continue from the saved version
                es.reset_to(key, mask)
                es.mark_saved(key)
        else:
            es.set_active(key)
        ctrl.parents[key] = s.study.start_source
        show = getattr(ctrl, "_show_working", None)
        if show is not None:
            show(key)
        else:  # pragma: no cover - the controller changed
            skey = ctrl.scene_key(key)
            ctrl.scene.set_edited_mask(skey, es.working(key))
            ctrl.structure_added.emit(skey)
            ctrl.changed.emit()
        w.edit_panel.select(name, s.study.start_source)
        return key

    def save_dirty(self, keys=None, tool: str = "lundprobe_gui study") -> list:
        """Save unsaved working copies through ``session.save_edit`` (a new version each); returns the SavedEdits."""
        s, w = self.session, self.window
        es = w.edit.session
        if not self.active or es is None:
            return []
        view = s.current_case()
        if view is None or (view.step, view.pseudonym) != self._loaded or w.patient is not self._loaded_patient:
            if es.dirty_keys():
                raise StudyError("the edits on screen do not belong to the current case")
            return []
        dirty = es.dirty_keys()
        keys = dirty if keys is None else [k for k in keys if k in dirty]
        saved = []
        for key in keys:
            if key[1] != s.target_source or key[0] not in s.structures:
                logger.warning("study mode: %s is not a study structure; not saved", key)
                continue
            mask = es.working(key)
            saved.append(s.save_edit(mask, key[0], tool=tool))
            es.mark_saved(key)
        if saved:
            w.edit.changed.emit()
            names = ", ".join(f"{e.structure} ({e.version_file.name})" for e in saved)
            w.statusBar().showMessage(f"Saved {names}", 5000)
        return saved

    def _save_or_rescue(self, tool: str = "lundprobe_gui study") -> bool:
        """:meth:`save_dirty`; if the study refuses, keep the edits in the app's recovery area instead."""
        try:
            self.save_dirty(tool=tool)
            return True
        except Exception as e:  # noqa: BLE001 - the edits must not be lost
            logger.exception("saving the study edits failed")
            ctrl = self.window.edit
            try:
                ctrl.recovery_autosave()  # the window's own recovery autosave
            except Exception:  # noqa: BLE001
                logger.exception("the recovery autosave failed too")
            self.inform(
                "Edits not saved to the study",
                f"{self._redact(str(e))}\nThe edits were kept in the app's recovery area.",
                warning=True,
            )
            return False

    # -- finishing ------------------------------------------------------------------------------------
    def finish_case(self, confirm: bool = True) -> bool:
        """Save every structure (edited or accepted unchanged), lock the case and go to the next one."""
        s = self.session
        if not self.active:
            return False
        view = s.current_case()
        if view is None:
            return False
        self.panel.flush_comment()
        missing = {n: s.missing_ratings(n) for n in view.structures if s.missing_ratings(n)}
        if missing:
            text = "; ".join(f"{n}: {', '.join(m)}" for n, m in missing.items())
            self.inform("Rate every structure first", f"Some answers are missing ({text}).")
            return False
        if confirm:
            answer = self.ask(
                f"Finish {view.pseudonym}?",
                "Your edits are saved and the case is locked; only the study administrator can "
                "reopen it. Structures you did not edit are saved unchanged.",
                ("Finish case", "Cancel"),
            )
            if answer != "Finish case":
                return False
        es = self.window.edit.session
        masks: dict[str, Mask] = {}
        if es is not None and (view.step, view.pseudonym) == self._loaded:
            masks = {k[0]: es.working(k) for k in es.dirty_keys() if k[1] == s.target_source and k[0] in s.structures}
        try:
            s.finish_case(masks=masks)
        except StudyError as e:
            self.inform("Cannot finish the case", self._redact(str(e)), warning=True)
            self.update_panel()
            return False
        if es is not None:
            for k in es.keys():
                es.mark_saved(k)  # finish_case saved them
        self._close_working_copies()
        self.window.statusBar().showMessage(f"{view.pseudonym} finished and locked", 5000)
        self.refresh()
        if self.active and s.status() == WAITING:
            self.inform("Step finished", self._waiting_text())
        elif self.active and s.status() == COMPLETE:
            self.inform("Study finished", "You have finished every case of every step. Thank you!")
        return True

    # -- admin ------------------------------------------------------------------------------------------
    def _authorise(self, what: str):
        s = self.session
        if s.study.admin is None:
            self.inform(
                "Administrator",
                "This study has no admin PIN: admin actions are available on the command "
                "line only (lundprobe-gui study ... --admin).",
            )
            return None
        pin = self.ask_pin(f"Admin PIN to {what}:")
        if pin is None:
            return None
        try:
            return authorise_admin(s.study, self.study_dir, pin=pin)
        except AdminRequired as e:
            self.inform("Administrator", str(e), warning=True)
            return None

    def admin_unlock(self) -> bool:
        """Admin: reopen a finished case (PIN, reason; logged)."""
        s = self.session
        if not self.active:
            return False
        finished = [
            (k, c.pseudonym) for k, rec in sorted(s.state.steps.items()) for c in rec.cases if c.status == "finished"
        ]
        if not finished:
            self.inform("Unlock a case", "No case is finished yet.")
            return False
        labels = [f"Step {k}: {p}" for k, p in finished]
        choice = self.choose_case("Unlock a finished case", labels)
        if choice is None or choice not in labels:
            return False
        step, pseudonym = finished[labels.index(choice)]
        auth = self._authorise(f"unlock {pseudonym} of step {step}")
        if auth is None:
            return False
        reason = self.ask_reason("Reason (recorded in the audit log):")
        if reason is None:
            return False
        if not self._save_or_rescue():
            return False
        try:
            s.unlock_case(pseudonym, auth, step=step, reason=reason)
        except StudyError as e:
            self.inform("Unlock refused", str(e), warning=True)
            return False
        self.refresh()
        return True

    def admin_override_washout(self) -> bool:
        """Admin: open the next step now instead of after the washout (PIN, reason; logged)."""
        s = self.session
        if not self.active:
            return False
        if s.status() != WAITING:
            self.inform("Override the washout", "No step is waiting for a washout.")
            return False
        auth = self._authorise("override the washout")
        if auth is None:
            return False
        reason = self.ask_reason("Reason (recorded in the audit log):")
        if reason is None:
            return False
        try:
            s.override_washout(auth, reason=reason)
        except StudyError as e:
            self.inform("Override refused", str(e), warning=True)
            return False
        self.refresh()
        return True

    # -- the edit controller, routed to the study -----------------------------------------------------
    def _ctrl_start_editing(self, name: str, source: str, target_source: str) -> tuple[str, str]:
        """``EditController.start_editing`` in a study: a study structure from its start mask, after the ratings."""
        s, w = self.session, self.window
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

    def _ctrl_new_structure(self, *_a, **_k):
        raise ValueError("new structures cannot be drawn in a study session: edit the study's structures")

    def _ctrl_copy_from(self, name: str, source: str, mode: str = "set") -> bool:
        return self._whole(name, source, lambda ctrl, m: ctrl.session.copy_from(ctrl.active, m, mode))

    def _ctrl_reset_to(self, name: str, source: str) -> bool:
        return self._whole(name, source, lambda ctrl, m: ctrl.session.reset_to(ctrl.active, m))

    def _whole(self, name: str, source: str, fn) -> bool:
        s, w = self.session, self.window
        ctrl = w.edit
        if ctrl.active is None or w.patient is None:
            return False
        ref = w.patient.reference_frame.structures.get((name, source))
        if ref is None or not s.can_open(source, ref.path) or source == s.target_source:
            w.statusBar().showMessage(f"{name} ({source}) is not available in this study", 5000)
            return False
        return fn(ctrl, w.patient.mask_obj(name, source))

    def _ctrl_save(self, keys=None, out_dir=None, background: bool = True, on_done=None):
        """``EditController.save`` in a study: a new version through ``session.save_edit``."""
        es = self.window.edit.session
        if keys is None and es is not None and es.active_key is not None:
            keys = [es.active_key]
        try:
            saved = self.save_dirty(keys=keys)
        except StudyError as e:
            self.inform("Not saved", self._redact(str(e)), warning=True)
            saved = []
        if not saved:
            self.window.statusBar().showMessage("Nothing new to save", 3000)
        if on_done is not None:
            on_done([e.version_file for e in saved])
        return None

    def _ctrl_autosave(self) -> None:
        """``EditController.autosave`` in a study (4 s after an edit, every 60 s, on focus loss, on close)."""
        if not self.active:
            return
        try:
            self.save_dirty(tool="lundprobe_gui study autosave")
        except Exception as e:  # noqa: BLE001 - logged and shown; the next save retries
            logger.error("study autosave failed: %s", e)
            self.window.edit.report_autosave(self._redact(str(e)))
        else:
            self.window.edit.report_autosave(None)

    def _confirm_discard(self) -> bool:
        """``MainWindow.confirm_discard`` in a study: nothing to ask, everything is saved to the study."""
        self._save_or_rescue()
        return True

    # -- time -----------------------------------------------------------------------------------------
    def _on_input(self) -> None:
        if not self.active:
            return
        now = time.monotonic()
        if now - self._last_activity < ACTIVITY_INTERVAL_S:
            return
        self._last_activity = now
        try:
            self.session.activity()
        except StudyError:
            logger.debug("activity outside a case", exc_info=True)

    def eventFilter(self, obj: QtCore.QObject, ev: QtCore.QEvent) -> bool:  # noqa: N802
        if obj is self.window and self.active:
            t = ev.type()
            if t == QtCore.QEvent.Type.WindowStateChange:
                self._window_state_changed()
            elif t == QtCore.QEvent.Type.Close:
                self.end()  # saves the edits and closes the session before the window asks anything
        return False

    def _window_state_changed(self) -> None:
        minimised = bool(self.window.windowState() & QtCore.Qt.WindowState.WindowMinimized)
        if minimised == self._minimised:
            return
        self._minimised = minimised
        try:
            if minimised:
                self.session.window_minimised()
                self._ctrl_autosave()
            else:
                self.session.window_restored()
        except StudyError:
            logger.debug("window state change outside a case", exc_info=True)

    def _on_tick(self) -> None:
        if not self.active:
            return
        s = self.session
        now = time.time()
        if self.panel.case is not None:
            try:
                self._show_time(now)
            except StudyError:
                pass
        elif now - self._last_poll >= POLL_WASHOUT_S:
            self._last_poll = now
            if s.status() != WAITING:
                self.refresh()
            else:
                self._update_menu()

    def _show_time(self, now: float | None = None) -> None:
        s = self.session
        if self.panel.case is None:
            return
        now = time.time() if now is None else now
        self.panel.set_time(s.active_seconds(self.panel.case.active, now=now), s.active_seconds(now=now))


def _all_actions(menu: QtWidgets.QMenu) -> list[QtGui.QAction]:
    out = []
    for a in menu.actions():
        out.append(a)
        if a.menu() is not None:
            out.extend(_all_actions(a.menu()))
    return out


# -- what the study decides instead of the window ------------------------------------------------------
class _StudyWindow:
    """The main window's :class:`~lundprobe_gui.ui.overrides.WindowOverride` during a study."""

    def __init__(self, mode: StudyMode) -> None:
        self.mode = mode

    def open_path(self, path: str | Path | None) -> None:  # noqa: ARG002 - every path is refused
        self.mode._refused_open()

    def show_dataset(self, root: Path) -> None:
        """Nothing: the browser stays empty, it would list other patients."""

    def remember(self, path: Path) -> None:
        """Nothing: a case's folder must not show up in the recent patients."""

    def show_problems(self) -> None:
        self.mode._show_problems()

    def make_state(self, patient: Patient) -> ViewerState:
        return self.mode.blinded_state(patient)

    def confirm_discard(self) -> bool:
        return self.mode._confirm_discard()


class _StudyEdits:
    """The edit controller's :class:`~lundprobe_gui.ui.overrides.EditOverride` during a study."""

    def __init__(self, mode: StudyMode) -> None:
        self.mode = mode

    def start_editing(self, name: str, source: str, target_source: str) -> tuple[str, str]:
        return self.mode._ctrl_start_editing(name, source, target_source)

    def new_structure(self, name: str, target_source: str) -> tuple[str, str]:
        return self.mode._ctrl_new_structure(name, target_source)

    def copy_from(self, name: str, source: str, mode: str = "set") -> bool:
        return self.mode._ctrl_copy_from(name, source, mode)

    def reset_to(self, name: str, source: str) -> bool:
        return self.mode._ctrl_reset_to(name, source)

    def save(self, keys=None, out_dir=None, background: bool = True, on_done=None):
        return self.mode._ctrl_save(keys, out_dir, background, on_done)

    def autosave(self) -> None:
        self.mode._ctrl_autosave()

    def find_recovery(self) -> None:
        """None: the study's edits are saved to the study, never to the recovery area."""
        return None

    def discard_recovery(self) -> None:
        """Nothing to discard (see :meth:`find_recovery`)."""
