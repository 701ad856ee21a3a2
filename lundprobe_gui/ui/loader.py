"""Opening and loading a patient off the UI thread, the MRI first so the first image shows early."""

from __future__ import annotations

import logging
import threading
import traceback
from pathlib import Path

from PySide6 import QtCore

from ..core.memory import release_free_memory
from ..core.patient import Patient
from ..io.open import NoImageError, open_patient
from . import gui_thread

logger = logging.getLogger(__name__)


class PatientLoader(QtCore.QObject):
    """Runs discovery and loading in a worker thread and reports through signals.

    Order: discovery (headers) -> ``opened``; MRI -> ``image_ready``; then the dose, shown
    structures, uncertainty and everything else, with ``progress`` and ``layer_loaded`` per file.
    """

    opened = QtCore.Signal(object)  # Patient
    image_ready = QtCore.Signal(object)  # Patient
    layer_loaded = QtCore.Signal(object, str)  # Patient, path
    progress = QtCore.Signal(int, int, str)
    finished = QtCore.Signal(object)  # Patient
    failed = QtCore.Signal(str)
    status = QtCore.Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self.edits_dirs: list = [True]
        """Output folders whose saved edits are read back on opening (True: the patient's default one)."""

    def start(self, path: Path | None, demo: bool = False) -> None:
        """Open ``path`` (or generate and open the demo patient) in the background."""
        self.cancel()
        self._cancel = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(path, demo, self._cancel), daemon=True, name="patient-loader"
        )
        self._thread.start()

    def cancel(self) -> None:
        """Stop reporting for the current load (the worker finishes its current file)."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the worker thread ends (tests, screenshots)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, path: Path | None, demo: bool, cancel: threading.Event) -> None:
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
            if cancel.is_set():
                return
            self.opened.emit(patient)
            load_patient(patient, cancel, self)
        except NoImageError as e:
            logger.warning("%s", e)  # the folder's own fault, said in one line: no traceback
            if not cancel.is_set():
                self.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - reported to the user, never crashes the app
            logger.error("loading failed: %s", traceback.format_exc())
            if not cancel.is_set():
                self.failed.emit(str(e))


def load_patient(
    patient: Patient, cancel: threading.Event | None = None, sink: PatientLoader | None = None, workers: int = 2
) -> None:
    """Load a patient's layers in display priority order (usable without Qt signals when ``sink`` is None)."""
    from concurrent.futures import ThreadPoolExecutor

    cancel = cancel or threading.Event()
    if sink is not None:
        gui_thread.bind(patient)  # the window shows it: structures change only in the GUI thread from now on
    frame = patient.reference_frame
    mri = frame.images.get("image") or next(iter(frame.images.values()), None)
    if mri is not None:
        patient.load_volume(mri)
    if cancel.is_set():
        return
    if sink is not None:
        sink.image_ready.emit(patient)
    first = frame.structures.get(("CTVT_427", "clinical")) or next(
        (r for r in frame.structures.values() if r.source == "clinical"), None
    )
    if first is not None:
        patient.try_load_mask(first)  # the crosshair moves to the CTV (or first structure's) centre when it loads
        if sink is not None:
            sink.layer_loaded.emit(patient, first.path)
    jobs = []
    standby = frame.standby()  # a dose resampled only if it is ever shown
    for v in frame.doses.values():
        if not any(v is s for s in standby):
            jobs.append((str(v.path), lambda v=v: patient.load_volume(v)))
    refs = list(frame.structures.values())  # one step: the GUI thread may add a saved edit meanwhile
    clinical = [r for r in refs if r.source == "clinical"]
    others = [r for r in refs if r.source != "clinical"]
    for ref in clinical:
        jobs.append((ref.path, lambda r=ref: patient.try_load_mask(r)))
    for v in list(frame.uncertainty.values()) + [v for k, v in frame.images.items() if v is not mri]:
        jobs.append((str(v.path), lambda v=v: patient.load_volume(v)))
    for ref in others:
        jobs.append((ref.path, lambda r=ref: patient.try_load_mask(r)))
    total = len(jobs)
    done = 0

    def run(job):
        if cancel.is_set():
            return job[0]
        job[1]()
        return job[0]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for path in pool.map(run, jobs):
            done += 1
            if cancel.is_set():
                continue
            if sink is not None:
                sink.layer_loaded.emit(patient, path)
                sink.progress.emit(done, total, Path(path).name)
    release_free_memory()
    if sink is not None and not cancel.is_set():
        sink.finished.emit(patient)
