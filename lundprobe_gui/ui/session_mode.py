"""One controller for the modes that run a person's session in the main window: reader study and AI review.

:class:`SessionMode` holds what both modes do the same way, so they cannot drift apart:

* input (mouse, keys, wheel) in this window reaches the session at most once a second as an
  event of the shared active-time rule; minimising the window and the application losing the
  focus stop the clock at once, restoring or focusing start it again;
* the interaction log (:class:`~lundprobe_gui.ui.interaction_log.InteractionLog`): tools
  chosen, strokes, undo and redo, slice moves and layer switches go to the session's event log;
* saving: the session is opened with its writer on a background thread, so no save or autosave
  stalls the window; a failing write is shown in the window's autosave warning until one works;
* the window's adaptation is undone step by step when the session ends (:class:`ExitSteps`);
* background work: :meth:`run_in_thread` for loaders, :meth:`wait_loaded` and :meth:`wait_saved`
  for scripts and tests.

A subclass builds its own panel and rules; it calls :meth:`attach_session` when its session
opens and :meth:`detach_session` when it ends, and answers :meth:`window_closing`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from ..session.errors import SessionError
from . import gui_thread
from .interaction_log import InteractionLog

logger = logging.getLogger(__name__)

ACTIVITY_EVERY_S = 1.0
"""Input reaches the session at most this often (every input would be an event of its log)."""
CLOCK_MS = 1000

_E = QtCore.QEvent.Type
INPUT_EVENTS = frozenset(
    {
        _E.MouseButtonPress,
        _E.MouseButtonRelease,
        _E.MouseButtonDblClick,
        _E.MouseMove,
        _E.Wheel,
        _E.KeyPress,
        _E.TabletPress,
        _E.TouchBegin,
    }
)


class ExitSteps:
    """Undo steps of the window's adaptation to a session, run in reverse order when it ends."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], object]] = []

    def on_exit(self, fn: Callable[[], object]) -> None:
        """Register one undo step (what it returns is ignored)."""
        self._undo.append(fn)

    def restore(self) -> None:
        """Run every undo step, newest first (a failing one does not stop the others)."""
        while self._undo:
            fn = self._undo.pop()
            try:
                fn()
            except Exception:  # restore as much as possible
                logger.exception("restoring the window after a session failed")


class SessionMode(QtCore.QObject):
    """The shared part of study mode and review mode (see the module docstring).

    Attributes
    ----------
    window : MainWindow
        The window the mode takes over.
    session : WorkSession or None
        The open session.
    log : InteractionLog
        Forwards the window's interactions to the session's event log.
    """

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.session: Any = None
        self.exit_steps = ExitSteps()
        self.log = InteractionLog(window, lambda: self.session)
        self._last_activity = float("-inf")
        self._minimised = False
        self._filtering = False
        self._threads: list[threading.Thread] = []
        self._clock = QtCore.QTimer(self)
        self._clock.setInterval(CLOCK_MS)
        self._clock.timeout.connect(self._on_clock)
        app = QtWidgets.QApplication.instance()
        if isinstance(app, QtGui.QGuiApplication):
            app.applicationStateChanged.connect(self._application_state)

    # -- for subclasses ------------------------------------------------------------------------------
    @staticmethod
    def post(fn: Callable[[], None]) -> None:
        """Run ``fn`` in the GUI thread (what a session's background writer reports goes through it)."""
        gui_thread.post(fn)

    def attach_session(self, session: Any) -> None:
        """Start forwarding input, focus, the interaction log and write failures to ``session``."""
        self.session = session
        session.write_failed.connect(self._write_failed)
        self._minimised = bool(self.window.windowState() & QtCore.Qt.WindowState.WindowMinimized)
        self._last_activity = float("-inf")
        self._set_filter(True)
        self.log.start()
        self._clock.start()

    def detach_session(self) -> None:
        """Stop forwarding (the session is being closed)."""
        s = self.session
        self._clock.stop()
        self.log.stop()
        self._set_filter(False)
        if s is not None:
            s.write_failed.disconnect(self._write_failed)
        self.window.edit.report_autosave(None)
        self.session = None

    def redact(self, text: str) -> str:
        """What a message may show (a study hides the patient and its paths)."""
        return text

    def window_closing(self) -> bool:
        """The window is being closed during the session: True lets it close."""
        return True

    def on_clock(self) -> None:
        """Called every second while a session is open (live displays, polling)."""

    def _on_clock(self) -> None:
        if self.session is not None:
            self.log.poll()
            self.on_clock()

    # -- background work -----------------------------------------------------------------------------
    def run_in_thread(self, fn: Callable[[], None], name: str) -> threading.Thread:
        """Run ``fn`` on a daemon thread (loaders); :meth:`wait_loaded` joins it."""
        t = threading.Thread(target=fn, name=name, daemon=True)
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()
        return t

    def wait_loaded(self, timeout: float | None = 30.0) -> None:
        """Block until the background loaders have ended (scripts, tests, screenshots)."""
        for t in list(self._threads):
            t.join(timeout)

    def wait_saved(self, timeout: float | None = 60.0) -> bool:
        """Block until the session's queued writes have run (scripts, tests); False on timeout."""
        return self.session is None or self.session.wait_written(timeout)

    def _write_failed(self, message: str | None) -> None:
        # shown where the window shows a failing autosave: the edits stay in memory and the next change retries
        self.window.edit.report_autosave(None if message is None else self.redact(message))

    # -- input, window state, focus ------------------------------------------------------------------
    def _set_filter(self, on: bool) -> None:
        app = QtWidgets.QApplication.instance()
        if app is None or on == self._filtering:
            return
        if on:
            app.installEventFilter(self)
        else:
            app.removeEventFilter(self)
        self._filtering = on

    def _report(self, method: str) -> None:
        s = self.session
        if s is None or s.closed:
            return
        try:
            getattr(s, method)()
        except SessionError:
            logger.debug("%s outside a case", method, exc_info=True)

    def eventFilter(self, obj: QtCore.QObject, ev: QtCore.QEvent) -> bool:
        t = ev.type()
        if t in INPUT_EVENTS:
            if self.session is not None and isinstance(obj, QtWidgets.QWidget) and obj.window() is self.window:
                now = time.monotonic()
                if now - self._last_activity >= ACTIVITY_EVERY_S:
                    self._last_activity = now
                    self._report("activity")
            return False
        if obj is self.window and self.session is not None:
            if t == _E.WindowStateChange:
                self._window_state_changed()
            elif t == _E.Close and not self.window_closing():
                ev.ignore()
                return True
        return False

    def _window_state_changed(self) -> None:
        minimised = bool(self.window.windowState() & QtCore.Qt.WindowState.WindowMinimized)
        if minimised == self._minimised:
            return
        self._minimised = minimised
        if minimised:
            self._report("window_minimised")
            self.window_minimised()
        else:
            self._report("window_restored")
            self._last_activity = time.monotonic()

    def window_minimised(self) -> None:
        """The window was minimised (a study saves its edits then)."""

    def _application_state(self, state: QtCore.Qt.ApplicationState) -> None:
        if self.session is None:
            return
        if state == QtCore.Qt.ApplicationState.ApplicationActive:
            self._report("focus_gained")
        elif state in (QtCore.Qt.ApplicationState.ApplicationInactive, QtCore.Qt.ApplicationState.ApplicationHidden):
            self._report("focus_lost")
