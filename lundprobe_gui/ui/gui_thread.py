"""Handing model changes made in worker threads to the GUI thread.

Loaders and saves run in worker threads, while the views iterate the patient model in the GUI
thread. :func:`bind` makes a patient apply every change of its structure lists (and drops of
volumes that failed to load) in the GUI thread: a worker's change is queued through a Qt signal
and runs there between two events, never in the middle of a view's loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PySide6 import QtCore

from ..core.patient import Patient

logger = logging.getLogger(__name__)


class _Poster(QtCore.QObject):
    """Lives in the GUI thread; a callable emitted from any thread runs there."""

    call = QtCore.Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.owner = threading.get_ident()
        self.call.connect(self._run, QtCore.Qt.ConnectionType.QueuedConnection)

    def _run(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:  # one failing change must not stop the event loop
            logger.exception("a model change handed to the GUI thread failed")


_poster: _Poster | None = None


def install() -> None:
    """Create the GUI thread's poster; call once from the GUI thread (the main window does)."""
    global _poster
    if _poster is None:
        _poster = _Poster()


def bind(patient: Patient) -> None:
    """Make ``patient`` change only in the GUI thread (a no-op before :func:`install`); any thread may call it."""
    if _poster is not None and patient.owner_thread != _poster.owner:
        patient.bind_thread(_poster.call.emit, _poster.owner)


def post(fn: Callable[[], None]) -> None:
    """Run ``fn`` in the GUI thread: queued from a worker thread, at once when already there (or before install)."""
    if _poster is None or threading.get_ident() == _poster.owner:
        fn()
    else:
        _poster.call.emit(fn)
