"""AI-review mode in the main window: a "Review" menu, the review panel dock, and the glue between
the Qt-free :class:`lundprobe_gui.review.ReviewSession` and the viewer and editor.

Installed by one line at the end of ``MainWindow.__init__``::

    from .review_mode import install_review_mode; install_review_mode(self)

What it does:

* **Review > Start AI review...** asks for a review folder (made by ``lundprobe-gui review init``),
  opens a :class:`ReviewSession` (a locked or unreadable review is refused with its message) and
  shows the "AI review" dock.
* Each case is shown in the window (any layout the viewer opens), with only the AI segments
  visible (the others can be switched on in the Layers panel) and the base image windowed by
  :func:`lundprobe_gui.core.modality.default_window_preset` once it is loaded (mediastinum for CT,
  the sCT window, or the MRI auto window).
* The reviewer rates each segment on the 5-point scale. **Correct** (enabled only when the rating
  is not 5; otherwise its tooltip is the session's ``edit_refusal``) opens a working copy of the
  segment in the window's edit session under the source ``"review"`` with the brush selected.
  Corrections are saved with ``save_correction`` (by **Save correction** or **Finish case**),
  never through the editor's own Save, which is disabled while a review is open.
* **Finish case** saves the corrections, calls ``finish_case()`` (review-results.csv) and opens
  the next case.
* Active time, the interaction log and saving off the GUI thread are those of every session
  mode (:class:`~lundprobe_gui.ui.session_mode.SessionMode`): the review session writes its
  state, its corrections and review-results.csv on a background thread.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.modality import default_window_preset
from ..render.colormaps import structure_colour
from ..review import NO_CORRECTION_SCORE, RESULTS_FILE, ReviewError, ReviewSession
from ..session.errors import SessionError, SessionLocked
from .review_corrections import TARGET_SOURCE, ReviewCorrections
from .review_panel import ReviewPanel, SegmentRow
from .session_mode import SessionMode

if TYPE_CHECKING:
    from ..core.mask import Mask
    from ..core.patient import Patient
    from .main_window import MainWindow

logger = logging.getLogger(__name__)

COMMENT_DELAY_MS = 700
PANEL_WIDTH = 410
TOOLS_WIDTH = 370


def install_review_mode(window: MainWindow) -> ReviewMode:
    """Add the Review menu and panel to a main window; the mode is kept as ``window.review_mode``."""
    mode = ReviewMode(window)
    window.review_mode = mode  # type: ignore[attr-defined]  # the window does not know its modes (ui/modes.py)
    return mode


class ReviewMode(ReviewCorrections, SessionMode):
    """One AI review at a time in a main window.

    Attributes
    ----------
    session : ReviewSession or None
        The open review.
    panel : ReviewPanel
        The dock's content.
    load_in_background : bool
        Load each case's layers on a worker thread (True) or before :meth:`open_case` returns
        (tests, scripted screenshots).
    """

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.session: ReviewSession | None = None
        self.load_in_background = True
        self.panel = ReviewPanel()
        scroll = QtWidgets.QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.dock = QtWidgets.QDockWidget("AI review", window)
        self.dock.setObjectName("AI review")
        self.dock.setWidget(scroll)
        # Beside (not below or over) the Display/Edit tabs: the scale and the editing tools are
        # visible together.
        window.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.dock, QtCore.Qt.Orientation.Horizontal)
        self.dock.hide()

        self._saved: dict[str, Mask] = {}  # segment -> mask last saved to the review (this visit)
        self._pending_comments: dict[str, str] = {}
        self._paused_case: str | None = None
        self._jump_pending = False
        self._load_cancel = threading.Event()
        self._editor_save_blocked = False
        self._save_btn_tip = ""

        self._comment_timer = QtCore.QTimer(self)
        self._comment_timer.setSingleShot(True)
        self._comment_timer.setInterval(COMMENT_DELAY_MS)
        self._comment_timer.timeout.connect(self.flush_comments)
        self._refresh_timer = QtCore.QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(150)
        self._refresh_timer.timeout.connect(self.refresh)

        self._build_menu()
        p = self.panel
        p.segment_selected.connect(self._segment_selected)
        p.rated.connect(self.rate)
        p.correct_requested.connect(self.correct)
        p.save_requested.connect(lambda name: self.save_correction(name))
        p.discard_requested.connect(lambda name: self.discard(name, confirm=True))
        p.comment_edited.connect(self._comment_edited)
        p.finish_requested.connect(lambda: self.finish_case())
        p.case_chosen.connect(self.open_case)
        p.resume_requested.connect(self.resume)
        window.loader.image_ready.connect(self._image_ready)
        window.loader.finished.connect(self._load_finished)
        window.patient_shown.connect(self._patient_shown)
        window.edit.changed.connect(self._refresh_timer.start)
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.end_review)

    # -- construction -----------------------------------------------------------------------
    def _build_menu(self) -> None:
        mb = self.window.menuBar()
        menu = QtWidgets.QMenu("&Review", mb)
        self.start_action = menu.addAction("Start AI review...")
        self.start_action.triggered.connect(lambda _c=False: self.start())
        self.end_action = menu.addAction("End AI review")
        self.end_action.triggered.connect(lambda _c=False: self.end_review())
        menu.addSeparator()
        self.panel_action = menu.addAction("Show review panel")
        self.panel_action.triggered.connect(lambda _c=False: self.show_dock())
        help_menu = next((a for a in mb.actions() if a.text().replace("&", "") == "Help"), None)
        if help_menu is not None:
            mb.insertMenu(help_menu, menu)
        else:
            mb.addMenu(menu)
        self.menu = menu
        # Ctrl+S saves the correction to the review while the editor's own Save is disabled.
        self.save_action = QtGui.QAction("Save review correction", self.window)
        self.save_action.setShortcut(QtGui.QKeySequence("Ctrl+S"))
        self.save_action.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
        self.save_action.triggered.connect(lambda _c=False: self._save_shortcut())
        self.save_action.setEnabled(False)
        self.window.addAction(self.save_action)
        self._update_actions()

    def show_dock(self) -> None:
        """Show the review panel at a width where the scale's definitions read on two lines or fewer."""
        was_visible = self.dock.isVisible()
        self.dock.show()
        self.dock.raise_()
        if not was_visible and not self.dock.isFloating():
            # The images keep most of the width: the Display/Edit tabs narrow to make room.
            scroll = self.dock.widget()
            assert isinstance(scroll, QtWidgets.QScrollArea)
            need = (
                self.panel.minimumSizeHint().width()
                + 2 * scroll.frameWidth()
                + scroll.style().pixelMetric(QtWidgets.QStyle.PixelMetric.PM_ScrollBarExtent)
            )
            scroll.setMinimumWidth(need)  # never narrower than the panel: nothing is cut off
            docks, widths = [self.dock], [max(PANEL_WIDTH, need)]
            for d in self.window.findChildren(QtWidgets.QDockWidget):
                if d.objectName() in ("Display", "Edit") and d.isVisible() and not d.isFloating():
                    docks.append(d)
                    widths.append(TOOLS_WIDTH)
            self.window.resizeDocks(docks, widths, QtCore.Qt.Orientation.Horizontal)

    def _update_actions(self) -> None:
        active = self.session is not None
        self.end_action.setEnabled(active)
        self.save_action.setEnabled(active)
        if active != self._editor_save_blocked:
            self._block_editor_save(active)

    def _block_editor_save(self, block: bool) -> None:
        """Disable the editor's own Save while a review is open: corrections go through the review."""
        for name in ("save_edits", "save_all_edits"):
            a = self.window.actions.get(name)
            if a is not None:
                a.setEnabled(not block)
        btn = getattr(self.window.edit_panel, "save_btn", None)
        if btn is not None:
            if block:
                self._save_btn_tip = btn.toolTip()
            btn.setEnabled(not block)
            btn.setToolTip(
                "In an AI review, corrections are saved by the review panel" if block else self._save_btn_tip
            )
        self._editor_save_blocked = block

    # -- messages ---------------------------------------------------------------------------
    def _tell(self, text: str, info: str) -> None:
        self.window.ask(text, info, ("OK",))

    # -- starting and ending ----------------------------------------------------------------
    def start(self, review_dir: str | Path | None = None) -> bool:
        """Open a review folder (asking for it when None) and show its next case."""
        if review_dir is None:
            last = str(self.window.settings.value("review_dir", "") or Path.home())
            d = QtWidgets.QFileDialog.getExistingDirectory(
                self.window, "AI review folder (made by 'lundprobe-gui review init')", last
            )
            if not d:
                return False
            review_dir = d
        review_dir = Path(review_dir)
        study = getattr(self.window, "study_mode", None)
        if study is not None and getattr(study, "active", False):
            self._tell("A reader-study session is open.", "End the study session before starting an AI review.")
            return False
        if self.session is not None:
            if self.session.dir.resolve() == review_dir.resolve():
                self.dock.show()
                return True
            if not self.end_review():
                return False
        try:
            session = ReviewSession(review_dir, background=True, post=self.post)
        except SessionLocked as e:
            self._tell("This review is already open.", str(e))
            return False
        except (ReviewError, SessionError, OSError) as e:
            self._tell(f"Cannot open the review in {review_dir}.", str(e))
            return False
        self.attach_session(session)
        session.changed.connect(self._session_changed)
        self.window.settings.setValue("review_dir", str(review_dir.parent))
        self.panel.set_review(session.reviewer, str(session.dir))
        self._update_actions()
        self.show_dock()
        nxt = session.next_case()
        if nxt is None:
            self._show_all_done()
        else:
            self.open_case(nxt)
        return True

    def end_review(self) -> bool:
        """Leave the open case (asking about unsaved corrections) and close the review; False if cancelled."""
        s = self.session
        if s is None:
            return True
        if not self.leave_case():
            return False
        self._load_cancel.set()
        try:
            s.close()
        except (SessionError, OSError) as e:
            logger.exception("closing the review failed")
            self._tell("Not everything was saved to the review.", str(e))
        s.changed.disconnect(self._session_changed)
        self.detach_session()
        self._paused_case = None
        self._update_actions()
        self.panel.set_cases([], None)
        self.panel.set_case_open(False, "The review is closed. Review > Start AI review... to continue it.")
        return True

    def _session_changed(self, what: str, case_id: str | None = None) -> None:
        """A background write finished (a correction or its discard): show the segment as saved."""
        if (
            what == "correction"
            and self.session is not None
            and self.session.current is not None
            and case_id == self.session.current.case_id
        ):
            for seg in self.session.current.segments:
                if not self._working(seg.name):
                    self._redraw_segment(seg.name)
            self._refresh_timer.start()

    # -- cases -------------------------------------------------------------------------------
    def open_case(self, case_id: str) -> bool:
        """Show a case of the review (after leaving the open one)."""
        s = self.session
        if s is None:
            return False
        if s.current is not None and s.current.case_id == case_id and self.window.patient is s.patient:
            return True
        if not self.leave_case():
            self._refresh_cases()
            return False
        try:
            patient = s.open_case(case_id)
        except ReviewError as e:
            self._tell(f"Cannot open case {case_id}.", str(e))
            self._refresh_cases()
            self.panel.set_case_open(False, f"Case {case_id} could not be opened; choose another case.")
            return False
        self._paused_case = None
        self._saved = {}
        self._pending_comments = {}
        case = s.current
        assert case is not None, "open_case made it the current case"
        state = self.window.make_state(patient)
        names = {seg.name for seg in case.segments}
        for key, style in state.layers.items():  # the AI segments only (others can be switched on)
            style.visible = key[2] == case.frame and key[1] == case.source and key[0] in names
        for seg in case.segments:  # each segment in its own structure colour (not one colour per source)
            style = state.style((seg.name, case.source, case.frame))
            style.visible, style.colour = True, structure_colour(seg.name)
        self._load_cancel.set()
        self._load_cancel = threading.Event()
        self._jump_pending = True
        self.window.set_patient(patient, state)
        self.panel.set_comments(s.case_state().comments)
        self.panel.set_case_open(True)
        self._refresh_cases()
        self.refresh(select=case.segments[0].name if case.segments else None)
        self.on_clock()
        self._load(patient)
        return True

    def _load(self, patient: Patient) -> None:
        w, cancel = self.window, self._load_cancel
        if not self.load_in_background:
            w.loader.run(patient, None, cancel)  # signals run the window's slots before this returns
            return
        w.progress.setVisible(True)
        w.progress.setRange(0, 0)
        self.run_in_thread(lambda: w.loader.run(patient, None, cancel), "review-loader")

    def leave_case(self) -> bool:
        """Save the comments, settle unsaved corrections (Save / Discard / Cancel) and close the case."""
        s = self.session
        if s is None or s.current is None:
            return True
        self.flush_comments()  # a refused comment was shown; leaving is not blocked by it
        pending = [seg.name for seg in s.current.segments if self._working(seg.name) and self._unsaved(seg.name)]
        if pending:
            answer = self.window.ask(
                f"Unsaved corrections of {', '.join(pending)} in case {s.current.case_id}.",
                "Save them to the review before leaving the case?",
                ("Save", "Discard", "Cancel"),
            )
            if answer == "Cancel":
                return False
            for name in pending:
                if answer == "Save":
                    if self.save_correction(name) is False:
                        return False
                else:
                    self._close_working(name)
        s.close_case()
        self.window.edit.autosave()
        return True

    def finish_case(self) -> bool:
        """Save the corrections, finish the case (review-results.csv) and open the next unfinished case."""
        s = self.session
        if s is None or s.current is None:
            return False
        case, st = s.current, s.case_state()
        unrated = [seg.name for seg in case.segments if seg.name not in st.ratings]
        if unrated:
            self._tell(
                f"Rate every segment before finishing case {case.case_id}.", f"Still unrated: {', '.join(unrated)}"
            )
            return False
        if not self.flush_comments():
            return False
        for seg in case.segments:
            if self._working(seg.name) and self.save_correction(seg.name) is False:
                return False
        try:
            path = s.finish_case()  # written after the corrections: the writer keeps the order
        except ReviewError as e:
            self._tell(f"Cannot finish case {case.case_id}.", str(e))
            return False
        self.window.statusBar().showMessage(f"Case {case.case_id} finished; results in {path}", 8000)
        nxt = s.next_case()
        if nxt is None:
            s.close_case()
            self._show_all_done()
            return True
        return self.open_case(nxt)

    def resume(self) -> bool:
        """Show the review's case again after another patient was opened in the window."""
        s = self.session
        if s is None:
            return False
        cid = self._paused_case or s.next_case()
        if cid is None:
            self._show_all_done()
            return False
        return self.open_case(cid)

    def _show_all_done(self) -> None:
        s = self.session
        assert s is not None, "said of the open review"
        self._refresh_cases()
        self.panel.set_case_open(
            False,
            f"All {len(s.case_ids)} cases are finished. Results: "
            f"{s.dir / RESULTS_FILE}\nChoose a case above to review it again.",
        )

    # -- ratings -------------------------------------------------------------------------------
    def rate(self, segment: str, score: int) -> bool:
        """Rate a segment; a 5 first discards its correction (after asking)."""
        s = self.session
        if s is None or s.current is None:
            return False
        if score == NO_CORRECTION_SCORE and (self._working(segment) or segment in s.case_state().corrected):
            answer = self.window.ask(
                f"Rate {segment} 5 (use as is)?",
                f"A segment rated 5 is not corrected: the correction of {segment} will be discarded.",
                ("Discard correction", "Cancel"),
            )
            if answer != "Discard correction":
                self.refresh()
                return False
            self.discard(segment)
        try:
            s.rate(segment, int(score))
        except ReviewError as e:
            self._tell(f"Cannot rate {segment} {score}.", str(e))
            self.refresh()
            return False
        self.refresh()
        return True

    # -- segments and the panel ---------------------------------------------------------------
    def _segment_selected(self, name: str) -> None:
        """Show the segment, and make its working copy (if any) the one the tools edit."""
        w = self.window
        es = w.edit.session
        s = self.session
        if es is not None:
            if self._working(name) and s is not None and s.current is not None:
                w.edit.start_editing(name, s.current.source, TARGET_SOURCE)
            elif es.active_key is not None and es.active_key[1] == TARGET_SOURCE:
                es.set_active(None)
                w.set_mouse_mode("navigate")
                w.edit.changed.emit()
        self.jump_to(name)
        self.refresh()

    def jump_to(self, segment: str) -> bool:
        """Move the cursor to a segment's centre."""
        s, w = self.session, self.window
        if s is None or s.current is None or s.patient is None or w.patient is not s.patient:
            return False
        try:
            m = s.patient.mask_obj(segment, s.current.source, s.current.frame)
        except (KeyError, ValueError):
            return False
        if m.is_empty():
            return False
        c = np.argwhere(m.data).mean(axis=0) + np.asarray(m.offset)
        w.tri.set_cursor(tuple(int(round(v)) for v in c))
        return True

    def _status(self, segment: str, corrected: bool) -> str:
        if self._working(segment):
            return "correcting (unsaved)" if self._unsaved(segment) else ("corrected" if corrected else "correcting")
        return "corrected" if corrected else ""

    def refresh(self, select: str | None = None) -> None:
        """Bring the panel up to date with the session and the edit session."""
        s = self.session
        if s is None or s.current is None:
            return
        case, st = s.current, s.case_state()
        rows = [
            SegmentRow(seg.name, st.ratings.get(seg.name), self._status(seg.name, seg.name in st.corrected))
            for seg in case.segments
        ]
        self.panel.set_segments(rows, select)
        name = self.panel.segment
        if name is not None:
            score = st.ratings.get(name)
            refusal = s.edit_refusal(name)
            working, unsaved = self._working(name), self._unsaved(name)
            corrected = name in st.corrected
            if score is None:
                text = f"Rate {name} first; a rating other than 5 allows a correction."
            elif score == NO_CORRECTION_SCORE:
                text = f"{name} is used as is: no correction."
            elif working:
                text = f"Correcting {name} (cyan): brush (key 1) adds, eraser (key 2) removes. " + (
                    "Unsaved: Finish case or Save correction saves it." if unsaved else "Saved."
                )
            elif corrected:
                text = f"{name} has a saved correction."
            else:
                text = f"Press Correct to edit {name}, or leave it as the AI made it."
            self.panel.set_segment_state(
                name, score, refusal, working, working and unsaved and refusal is None, working or corrected, text
            )
        self.panel.set_finish_state([seg.name for seg in case.segments if seg.name not in st.ratings])

    def _refresh_cases(self) -> None:
        s = self.session
        if s is None:
            return
        self.panel.set_cases(
            [(cid, s.state.cases[cid].status) for cid in s.case_ids], s.current.case_id if s.current else None
        )

    # -- comments ----------------------------------------------------------------------------
    def _comment_edited(self, kind: str, text: str) -> None:
        self._pending_comments[kind] = text
        self._comment_timer.start()

    def flush_comments(self) -> bool:
        """Write the comments typed since the last save; False (the reviewer told why) when one was refused."""
        self._comment_timer.stop()
        s, pending = self.session, self._pending_comments
        self._pending_comments = {}
        if s is None or s.current is None:
            return True
        st = s.case_state()
        ok = True
        for kind, text in pending.items():
            if st.comments.get(kind, "") != text:
                try:
                    s.set_comment(kind, text)
                except (ReviewError, OSError) as e:
                    ok = False
                    self._tell(f"The {kind} comment was not saved.", f"{e}\nThe text stays in the box: correct it.")
        return ok

    # -- time ----------------------------------------------------------------------------------
    def on_clock(self) -> None:
        """Every second: the case's active time."""
        s = self.session
        if s is not None and s.current is not None:
            self.panel.set_active_time(s.active_seconds())

    def window_closing(self) -> bool:
        """Closing the window ends the review (asking about unsaved corrections); False keeps it open."""
        return self.end_review()

    # -- window signals ------------------------------------------------------------------------
    def _image_ready(self, patient: Patient) -> None:
        s = self.session
        if s is None or patient is not s.patient or patient is not self.window.patient:
            return
        preset = default_window_preset(patient)
        self.window.apply_preset(preset, key="mri")
        self.window.statusBar().showMessage(f"{patient.id}: {preset} window", 5000)

    def _load_finished(self, patient: Patient) -> None:
        s = self.session
        if s is None or patient is not s.patient or patient is not self.window.patient:
            return
        if self._jump_pending and self.panel.segment is not None:
            self._jump_pending = False
            self.jump_to(self.panel.segment)
        self.refresh()

    def _patient_shown(self, patient: Patient) -> None:
        s = self.session
        if s is None or s.current is None or patient is s.patient:
            return
        # Another patient was opened in the window: the review's case is no longer on screen.
        self._paused_case = s.current.case_id
        self.flush_comments()
        s.close_case()
        self._refresh_cases()
        self.panel.set_case_open(
            False,
            f"Case {self._paused_case} is not shown (another patient was opened); its clock is stopped.",
            paused=True,
        )
