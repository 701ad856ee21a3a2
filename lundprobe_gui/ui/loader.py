"""Opening and loading a patient off the UI thread, the MRI first so the first image shows early.

The one loader of the window, of study cases and of review cases: :class:`PatientLoader` runs a
:class:`~lundprobe_gui.core.loading.LoadPlan` (the viewer's order by default, a study step's
visible layers in a study) and reports through Qt signals, queued to the UI thread.
"""

from __future__ import annotations

import logging
import threading
import traceback
from pathlib import Path

from PySide6 import QtCore

from ..core.loading import LoadPlan, load_plan, viewer_plan
from ..core.patient import Patient
from ..io.open import NoImageError, open_patient
from . import gui_thread

logger = logging.getLogger(__name__)


class PatientLoader(QtCore.QObject):
    """Runs discovery and loading in a worker thread and reports through signals.

    Order: discovery (headers) -> ``opened``; the plan's first layers (the MRI) -> ``image_ready``;
    then the rest (dose, shown structures, uncertainty and everything else), with ``progress`` and
    ``layer_loaded`` per file; ``finished`` at the end, ``failed`` with a one-line message.
    """

    opened = QtCore.Signal(object)  # Patient
    image_ready = QtCore.Signal(object)  # Patient
    layer_loaded = QtCore.Signal(object, str)  # Patient, path
    progress = QtCore.Signal(int, int, str)
    finished = QtCore.Signal(object)  # Patient
    failed = QtCore.Signal(str)
    status = QtCore.Signal(str)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self.edits_dirs: list[Path | bool | None] = [True]
        """Output folders whose saved edits are read back on opening (True: the patient's default one)."""

    def start(self, path: Path | None, demo: bool = False) -> None:
        """Open ``path`` (or generate and open the demo patient) in the background and load it."""
        self._spawn(self._open_and_load, (path, demo), "patient-loader")

    def load(self, patient: Patient, plan: LoadPlan | None = None, cancel: threading.Event | None = None) -> None:
        """Load an opened patient's layers (``plan``, by default every layer) in the background."""
        self._spawn(self.run, (patient, plan), "patient-layer-loader", cancel)

    def _spawn(self, target, args: tuple, name: str, cancel: threading.Event | None = None) -> None:
        self.cancel()
        self._cancel = cancel or threading.Event()
        self._thread = threading.Thread(target=target, args=(*args, self._cancel), daemon=True, name=name)
        self._thread.start()

    def cancel(self) -> None:
        """Stop reporting for the current load (the worker finishes its current file)."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the worker thread ends (tests, screenshots)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _open_and_load(self, path: Path | None, demo: bool, cancel: threading.Event) -> None:
        try:
            if demo:
                from ..demo import demo_ready, ensure_demo

                path = demo_ready()
                if path is None:  # first start: a coarse preview now, the full patient in the background
                    self.status.emit("First start: preparing a coarse preview of the demo patient...")
                    path = ensure_demo("small", progress=lambda s: self.status.emit(s))
            assert path is not None, "start() is given a folder unless it opens the demo"
            self.status.emit(f"Opening {path}...")
            patient = open_patient(path, edits=list(self.edits_dirs))
        except NoImageError as e:
            logger.warning("%s", e)  # the folder's own fault, said in one line: no traceback
            if not cancel.is_set():
                self.failed.emit(str(e))
            return
        except Exception as e:  # noqa: BLE001 - reported to the user, never crashes the app
            logger.error("opening failed: %s", traceback.format_exc())
            if not cancel.is_set():
                self.failed.emit(str(e))
            return
        if cancel.is_set():
            return
        self.opened.emit(patient)
        self.run(patient, None, cancel)

    def run(self, patient: Patient, plan: LoadPlan | None = None, cancel: threading.Event | None = None) -> None:
        """Load ``plan`` (default: every layer) in the calling thread, reporting through the signals.

        An exception is logged and reported by ``failed`` (never raised): the window stays usable.
        """
        cancel = cancel or threading.Event()
        gui_thread.bind(patient)  # the window shows it: structures change only in the GUI thread from now on
        try:
            done = load_plan(
                patient,
                viewer_plan(patient) if plan is None else plan,
                cancel,
                on_image=lambda: self.image_ready.emit(patient),
                on_layer=lambda i, n, path: self._loaded(patient, i, n, path),
            )
        except Exception as e:  # noqa: BLE001 - reported to the user, never crashes the app
            logger.error("loading %s failed: %s", patient.id, traceback.format_exc())
            if not cancel.is_set():
                self.failed.emit(str(e))
            return
        if done:
            self.finished.emit(patient)

    def _loaded(self, patient: Patient, done: int, total: int, path: str) -> None:
        self.layer_loaded.emit(patient, path)
        self.progress.emit(done, total, Path(path).name)


def load_patient(patient: Patient, cancel: threading.Event | None = None, sink: PatientLoader | None = None) -> None:
    """Load every layer of a patient in the calling thread, in the viewer's order.

    With ``sink``, its signals report as the window's loader does (and an error is reported, not
    raised); without, no Qt is involved.
    """
    if sink is None:
        load_plan(patient, viewer_plan(patient), cancel)
    else:
        sink.run(patient, None, cancel)
