"""Study mode: the main window as an observer's reader-study workstation.

``install_study_mode(window)`` adds a *Study* menu and a (hidden) *Study* dock to a
:class:`~lundprobe_gui.ui.main_window.MainWindow`. *Study > Start study...* asks for the study
folder, the observer ID (and the observer's PIN when the study has them) and opens an
:class:`~lundprobe_gui.study.ObserverSession` whose writes run on a background thread. While it runs:

* cases come one at a time, labelled by pseudonym ("Case 07"); the window is taken over as
  :mod:`~lundprobe_gui.ui.study_takeover` describes, and blinded by the step's rules: hidden
  sources are neither loaded nor listed, the dose only in steps that show it, the uncertainty map
  only in the steps that allow it, on the fixed 0-0.5 scale and in the step's recorded colours;
* a case opens on a worker thread (the patient's headers, and the hashes of a dataset copy), then
  loads its allowed layers, the MRI first; finishing a case shows the next one while its masks
  are still being written (:mod:`~lundprobe_gui.study.session_work`);
* the ratings come first, then editing (:mod:`~lundprobe_gui.ui.study_editing`): every save,
  autosave and the save of the case at its end go to the session, never waiting for the disk;
* input, minimising and the focus feed the active-time rule, and the interaction log records
  tools, strokes, undo, slices and layers (:class:`~lundprobe_gui.ui.session_mode.SessionMode`).
  The live clock is shown only when the study says so (``show_clock``).

Every prompt goes through a method of :class:`StudyMode` (``choose_study_dir``, ``ask_observer``,
``ask_observer_pin``, ``ask``, ``ask_pin``, ``ask_reason``, ``choose_case``, ``choose_dataset_dir``,
``inform``, ``ask_step_questions``) that tests replace. When an observer finishes the last case of a
step of a study with an end-of-step questionnaire, it is asked at once (:meth:`StudyMode.ask_questionnaire`).
"""

from __future__ import annotations

import datetime
import logging
import threading
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from ..core.names import InvalidName, validate_observer
from ..core.patient import Patient
from ..study import (
    COMPLETE,
    WAITING,
    CaseView,
    CorruptStudyFile,
    ObserverSession,
    SessionLocked,
    StudyDefinition,
    StudyError,
    load_study,
)
from ..study.clock import parse_iso
from . import study_dialogs
from .loader import PatientLoader
from .session_mode import SessionMode
from .study_admin import StudyAdmin
from .study_case_loader import CaseOpener, CasePreloader, case_plan
from .study_case_panel import StudyPanelControl
from .study_editing import StudyEditing
from .study_panel import StudyPanel
from .study_questionnaire import StepQuestionnaireControl
from .study_takeover import PANEL_WIDTH, STUDY_DOCK, StudyTakeover

logger = logging.getLogger(__name__)

__all__ = ["PANEL_WIDTH", "StudyMode", "install_study_mode"]


def install_study_mode(window) -> StudyMode:
    """Add the Study menu and dock to a main window; returns the :class:`StudyMode` (also ``window.study_mode``)."""
    mode = StudyMode(window)
    window.study_mode = mode
    return mode


class StudyMode(
    StudyTakeover, StudyEditing, StudyAdmin, StudyPanelControl, StepQuestionnaireControl, CasePreloader, SessionMode
):
    """Runs one observer's session in a main window (see the module docstring)."""

    case_shown = QtCore.Signal(object)  # CaseView, once its image is on screen
    started = QtCore.Signal()
    ended = QtCore.Signal()

    def __init__(self, window) -> None:
        SessionMode.__init__(self, window)
        self.study_dir: Path | None = None
        self.background = True
        """Open and load cases on worker threads (tests set False to do it before the call returns)."""
        self._loaded: tuple[int, str] | None = None
        self._loaded_patient: Patient | None = None
        self._cancel = threading.Event()
        self._last_poll = 0.0
        self._refresh_queued = False
        self._before_study: Path | None = None
        self._in_flight: dict[tuple, tuple] = {}
        self._preload: tuple[tuple, tuple] | None = None
        self._preload_key: tuple | None = None
        self._preload_thread: threading.Thread | None = None
        self._progress = (0, 0)
        self._progress_timer = QtCore.QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(150)
        self._progress_timer.timeout.connect(self._show_progress)
        self.opener = CaseOpener(self)
        self.opener.opened.connect(self._on_case_opened)
        self.opener.failed.connect(self._on_open_failed)
        self.loader = PatientLoader(self)  # its own: the window's loader drives the viewer's slots
        self.loader.image_ready.connect(self._on_case_image)
        self.loader.progress.connect(self._on_case_progress)
        self.loader.finished.connect(self._on_case_loaded)
        self.loader.failed.connect(self._on_case_failed)
        self.log.layer_changed = self._layers_switched

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
        p = self.panel
        p.rated.connect(self._on_rated)
        p.comment_edited.connect(self._on_comment)
        p.structure_chosen.connect(self.select_structure)
        p.edit_requested.connect(lambda: self.edit_structure())
        p.next_requested.connect(self.next_structure)
        p.finish_requested.connect(lambda: self.finish_case())
        p.unlock_requested.connect(self.admin_unlock)
        p.override_requested.connect(self.admin_override_washout)
        p.end_requested.connect(self.end)

        self._build_menu()
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

    def ask_observer_pin(self, observer: str) -> str | None:
        """The observer's PIN (asked only when the study gives observers PINs), or None when cancelled."""
        return study_dialogs.ask_pin(self.window, f"PIN of observer {observer}:", title="Start study")

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
        self.copy_action = self.menu.addAction("Use a local copy of the dataset...", self.use_dataset_copy)
        self.menu.addSeparator()
        self.unlock_action = self.menu.addAction("Admin: unlock a finished case...", self.admin_unlock)
        self.override_action = self.menu.addAction("Admin: override the washout...", self.admin_override_washout)
        self.menu.addSeparator()
        self.questionnaire_action = self.menu.addAction("Step questionnaire...", self.ask_questionnaire)
        self._update_menu()

    def _update_menu(self) -> None:
        s = self.open_session()
        on = s is not None
        admin = s is not None and s.study.admin is not None
        self.start_action.setEnabled(not on)
        self.copy_action.setEnabled(not on)
        self.end_action.setEnabled(on)
        self.unlock_action.setVisible(admin)
        self.override_action.setVisible(admin)
        waiting = s is not None and s.status() == WAITING
        self.override_action.setEnabled(admin and waiting)
        asks = s is not None and bool(s.study.step_questions)
        self.questionnaire_action.setVisible(asks)
        self.questionnaire_action.setEnabled(s is not None and asks and s.questionnaire_due() is not None)
        self.panel.set_admin(admin, waiting)

    # -- starting and ending ------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether a study session runs in this window."""
        return self.open_session() is not None

    def open_session(self) -> ObserverSession | None:
        """The session running in this window, or None (none, or closed)."""
        s = self.session
        return s if s is not None and not s.closed else None

    def start_dialog(self) -> bool:
        """Study > Start study: ask for the folder and the observer (and PIN), then start."""
        if self.active:
            self.inform("Study", "A study session is already running in this window.")
            return False
        chosen = self.choose_study()
        if chosen is None:
            return False
        d, study = chosen
        while True:
            obs = self.ask_observer(study)
            if not obs:
                return False
            obs = obs.strip()
            if not study_dialogs.valid_observer_id(obs):
                why = f"{obs!r} is not a valid observer ID: use letters, digits, _ and - only."
            elif not study.observer_pins and obs not in study.observers:
                # asked again, without listing the valid IDs (with PINs, the session refuses ID and PIN together)
                why = f"{obs!r} is not an observer of this study; check the ID you were given."
            else:
                break
            self.inform("Observer ID", why, warning=True)
        pin = None
        if study.observer_pins:
            pin = self.ask_observer_pin(obs)
            if pin is None:
                return False
        root = self.dataset_for(d, study)
        if root is False or root is True:  # False: cancelled (True is never returned)
            return False
        return self.start(d, obs, pin=pin, dataset_root=root)

    def choose_study(self) -> tuple[Path, StudyDefinition] | None:
        """(folder, definition) of a study the user chose, or None (cancelled, or told why it cannot be read)."""
        d = self.choose_study_dir()
        if not d:
            return None
        try:
            return Path(d), load_study(d)
        except StudyError as e:
            self.inform("Cannot open the study", f"The study files cannot be read:\n{e}", warning=True)
            return None

    def start(
        self, study_dir: str | Path, observer: str, pin: str | None = None, dataset_root: Path | None = None
    ) -> bool:
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
        if dataset_root is None:
            dataset_root = self.remembered_copy(Path(study_dir))
        try:
            s = ObserverSession(
                study_dir, observer, pin=pin, dataset_root=dataset_root, background=True, post=self.post
            )
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
        if s.status() == COMPLETE and s.questionnaire_due() is None:
            s.close()
            self.inform("Study finished", f"{observer} has finished every step of this study. Thank you!")
            return False
        self.study_dir = Path(study_dir)
        self._loaded, self._loaded_patient = None, None
        self.attach_session(s)
        s.changed.connect(self._on_session_changed)
        self._enter_study_ui()
        self.panel.set_questions(s.questions)
        self.panel.set_clock_visible(s.study.show_clock)
        name = s.study.name or self.study_dir.name
        self.panel.set_observer(f"{name}: observer {observer}")
        self._update_menu()
        self.started.emit()
        self.refresh()
        if s.questionnaire_due() is not None:
            self.ask_questionnaire()  # put off last time: asked again
        if s.status() == WAITING:
            self.inform("Waiting for the washout", self._waiting_text())
        return True

    def end(self) -> None:
        """End the session: hand the edits to the study, write everything, close it and restore the window."""
        if self.session is None:
            return
        s = self.session
        failed = None
        try:
            if not s.closed:
                self.panel.flush_comment()
                self._save_or_rescue()
        finally:
            self._cancel.set()
            try:
                s.close()
            except Exception as e:
                logger.exception("closing the study session failed")
                failed = e
            if failed is not None:
                self._rescue_in_flight()
            self._in_flight.clear()
            s.changed.disconnect(self._on_session_changed)
            self.detach_session()
            self._loaded, self._loaded_patient = None, None
            self._preload, self._preload_key = None, None
            self._leave_study_ui()
            self._update_menu()
            self.ended.emit()
        if failed is not None:
            self.inform(
                "Not everything was saved to the study",
                f"{self.redact(str(failed))}\nUnsaved edits were kept in the app's recovery area.",
                warning=True,
            )

    def window_closing(self) -> bool:
        """Closing the window ends the session first (nothing to ask: everything goes to the study)."""
        self.end()
        return True

    def window_minimised(self) -> None:
        """Minimising saves the edits (the clock has stopped)."""
        self.autosave_to_study()

    # -- the current case ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Show whatever the session says is current: a (new) case, the washout wait, or the end."""
        self._refresh_queued = False
        s = self.open_session()
        if s is None or self.asking_questionnaire:
            return  # the dialog's event loop: ask_questionnaire queues the refresh once it is closed
        view = s.current_case()
        if view is None:
            self._show_no_case()
            self._update_menu()
            return
        key = (view.step, view.pseudonym)
        if key != self._loaded:
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
        """Start opening a case: its patient is read (and a dataset copy checked) on a worker thread."""
        s, w = self.open_session(), self.window
        if s is None:
            return
        self._cancel.set()
        self._cancel = threading.Event()
        self._loaded, self._loaded_patient = (view.step, view.pseudonym), None
        self._unshow_patient()
        w.setWindowTitle(f"lundprobe_gui - Study - {view.pseudonym} (step {view.step})")
        w.statusBar().showMessage(f"{view.pseudonym}: opening...")
        ready, self._preload = self._preload, None
        if ready is not None and ready[0] == self._loaded and ready[1][0].path == s.patient_path():
            # loaded while the observer worked on the case before (with the image's auto window)
            self._on_case_opened(ready[1][0], self._loaded, ready[1][1])
            return
        path = s.patient_path()
        self.opener.start(path, self._loaded, self._copy_check(path), background=self.background)

    def _on_open_failed(self, message: str, token: object) -> None:
        loaded = self._loaded
        if loaded is None or token != loaded or not self.active:
            return
        self.inform("Cannot open the case", f"{loaded[1]} cannot be opened:\n{self.redact(message)}", warning=True)

    def _on_case_opened(self, patient: Patient, token: object, window: tuple | None = None) -> None:
        s, w = self.open_session(), self.window
        if token != self._loaded or s is None or (view := s.current_case()) is None:
            return
        try:
            s.attach_patient(patient)
        except StudyError as e:
            self.inform("Cannot open the case", self.redact(str(e)), warning=True)
            return
        self._loaded_patient = patient
        state = self.blinded_state(patient)
        if window is not None:
            state.base.windows["mri"] = window  # computed ahead by the same rule as the scene's
        w.set_patient(patient, state)  # remembering and listing go to StudyWindow
        w.setWindowTitle(f"lundprobe_gui - Study - {view.pseudonym} (step {view.step})")  # not the patient's
        self._show_views(True)
        self._prune_layer_panel()
        w.edit_panel.populate(self.editable())
        w.edit_panel.select(view.active_structure, s.study.start_source)
        w.edit_panel.target.setText(s.target_source)
        w.set_mouse_mode("navigate")
        w.statusBar().showMessage(f"{view.pseudonym}: loading...")
        vis = s.visibility()
        self.log.reset_layers()
        s.set_uncertainty_shown(self.log.display_state().get("uncertainty", False))
        s.log_event(
            "case_shown",
            uncertainty_colours=vis.uncertainty_colours if vis.uncertainty_allowed else None,
            dose_shown=vis.dose_allowed,
        )
        plan = case_plan(patient, s)
        if self.background:
            self._progress = (0, len(plan))
            w.progress.setVisible(True)
            self._progress_timer.start()
            self.loader.load(patient, plan.load_plan(), self._cancel)
        else:
            self.loader.run(patient, plan.load_plan(), self._cancel)  # the signals run the slots before this returns
        self.update_panel()

    def _on_case_image(self, patient: Patient) -> None:
        w, s = self.window, self.open_session()
        if patient is not w.patient or w.scene is None or s is None:
            return
        w.display.sync(w.scene.window(w.display.current_window_key()))
        w.tri.refresh()
        w.tri.reset_zoom()
        view = s.current_case()
        if view is not None:
            self.case_shown.emit(view)

    def _on_case_progress(self, done: int, total: int, name: str = "") -> None:
        # shown by a timer: QProgressBar repaints at once on every value, which would stall the loading window
        self._progress = (done, total)
        if not self._progress_timer.isActive():
            self._progress_timer.start()

    def _show_progress(self) -> None:
        done, total = self._progress
        self.window.progress.setRange(0, max(1, total))
        self.window.progress.setValue(done)
        self.window.progress.setFormat(f"{done}/{total} layers")

    def _on_case_loaded(self, patient: Patient) -> None:
        w = self.window
        if patient is not w.patient or w.scene is None or not self.active:
            return
        self._progress_timer.stop()
        w.progress.setVisible(False)
        w.scene.invalidate()
        w.tri.update_colour_bars()
        w.tri.refresh()
        w.show_problems()
        label = self._loaded[1] if self._loaded else "Case"
        w.statusBar().showMessage(f"{label}: ready", 5000)
        self._start_preload()

    def _on_case_failed(self, message: str) -> None:
        self.window.progress.setVisible(False)
        self.inform("Cannot load the case", self.redact(message), warning=True)

    def wait_loaded(self, timeout: float | None = 30.0) -> None:
        """Wait for the background opener and loader (tests, screenshots)."""
        self.opener.wait(timeout)
        QtWidgets.QApplication.processEvents()  # the opened patient is shown, which starts the loader
        self.loader.wait(timeout)
        QtWidgets.QApplication.processEvents()

    def _show_no_case(self) -> None:
        s, w = self.open_session(), self.window
        if s is None:
            return
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
        s = self.open_session()
        if s is None:
            return ""
        prog = s.progress()
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

    # -- finishing ------------------------------------------------------------------------------------
    def finish_case(self, confirm: bool = True) -> bool:
        """Hand every structure to the study (edited or accepted unchanged), lock the case, show the next one."""
        s = self.open_session()
        if s is None:
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
        masks = self.finish_masks()
        try:
            s.finish_case(masks=masks)
        except StudyError as e:
            self.inform("Cannot finish the case", self.redact(str(e)), warning=True)
            self.update_panel()
            return False
        if es is not None:
            for k in es.keys():  # noqa: SIM118 - EditSession.keys() is a method returning a list, not a dict
                es.mark_saved(k)  # handed to the study with the finish
        self._close_working_copies(redraw=False)  # the next case replaces what the views show
        self.window.statusBar().showMessage(f"{view.pseudonym} finished and locked", 5000)
        # asked over the step just finished: the next step's first case (a washout of 0) loads after it
        if self.active and s.questionnaire_due() is not None:
            self.ask_questionnaire()
        self.refresh()
        if self.active and s.status() == WAITING:
            self.inform("Step finished", self._waiting_text())
        elif self.active and s.status() == COMPLETE:
            self.inform("Study finished", "You have finished every case of every step. Thank you!")
        return True
