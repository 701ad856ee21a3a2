"""Loading a study case in the background: open the patient, check it, then load only what the step may show.

Opening a patient reads the headers of every file of its folder, and a copy of the dataset is
checked against the recorded hashes: both run on a worker thread (:class:`CaseOpener`), so the
window never waits for them. The layers are then loaded by :class:`CaseLoader`, the MRI and the
start masks first, every hidden source never at all (no voxel of it is read), and the dose and the
uncertainty map only in the steps that show them.
"""

from __future__ import annotations

import logging
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from PySide6 import QtCore, QtWidgets

from ..core.patient import Patient
from ..io.open import open_patient
from ..render.window import percentile_window
from ..study import StudyError, check_patient_files
from . import gui_thread

if TYPE_CHECKING:
    from .study_mode import StudyMode

logger = logging.getLogger(__name__)


@dataclass
class CasePlan:
    """What to load for a case, decided on the UI thread from the blinding rules."""

    first_volumes: list = field(default_factory=list)
    first_masks: list = field(default_factory=list)
    volumes: list = field(default_factory=list)
    masks: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.first_volumes) + len(self.first_masks) + len(self.volumes) + len(self.masks)


def case_plan(patient: Patient, session) -> CasePlan:
    """The layers of the current case an observer may see: never a hidden source, dose and map only where shown."""
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
    if vis.dose_allowed:
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


class CaseOpener(QtCore.QObject):
    """Opens a case's patient folder (and checks a dataset copy) on a worker thread.

    ``opened(patient, token)`` or ``failed(message, token)`` arrive in the UI thread; the token
    tells a stale answer (the observer has moved on) from the current one.
    """

    opened = QtCore.Signal(object, object)
    failed = QtCore.Signal(str, object)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None

    def start(
        self, path: Path, token: object, check: Callable[[], None] | None = None, background: bool = True
    ) -> None:
        """Open ``path`` (``check()`` first, e.g. the copy's hashes); synchronously when not ``background``."""

        def work() -> None:
            try:
                if check is not None:
                    check()
                p = open_patient(path, edits=False)
            except Exception as e:  # noqa: BLE001 - reported to the observer
                logger.info("opening a study case failed: %s", e)
                self.failed.emit(str(e), token)
                return
            self.opened.emit(p, token)

        if not background:
            work()
            return
        self._thread = threading.Thread(target=work, daemon=True, name="study-case-opener")
        self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the worker ends."""
        if self._thread is not None:
            self._thread.join(timeout)


class CasePreloader:
    """Opening the next case ahead while the observer works (a mixin of StudyMode).

    The next case's patient is opened, its files checked (a dataset copy) and its image and start
    masks loaded on a worker thread, with the image's auto window; when the observer finishes the
    case, the next one is on screen without waiting for the disk.
    """

    def _copy_check(self: "StudyMode", path: Path):
        """The check of a case's files in a dataset copy (run in the opening thread), or None."""
        s = self.session
        if not s.dataset_copy:
            return None
        study, root = s.study, s.dataset_root

        def check() -> None:
            why = check_patient_files(study, path.name, root, full=True)
            if why:
                raise StudyError(f"{why}; this is not the study's dataset")

        return check

    def _start_preload(self: "StudyMode") -> None:
        """Open the next case's patient and load its image and start masks while the observer works on this one."""
        s = self.session
        if not self.active or not self.background:
            return
        nxt = s.next_case_preview()
        if nxt is None:
            return
        key, path = (nxt[0], nxt[1]), nxt[2]
        if key == self._preload_key:
            return
        self._preload_key, self._preload = key, None
        check, names, start = self._copy_check(path), tuple(s.structures), s.study.start_source

        def work() -> None:
            try:
                if check is not None:
                    check()
                p = open_patient(path, edits=False)
                frame = p.reference_frame
                mri = frame.images.get("image") or next(iter(frame.images.values()), None)
                window = None
                if mri is not None and p.load_volume(mri):
                    window = percentile_window(mri.data)
                for name in names:
                    ref = frame.structures.get((name, start))
                    if ref is not None:
                        p.try_load_mask(ref)
            except Exception:  # noqa: BLE001 - the case is opened the normal way when it comes
                logger.info("loading the next case ahead failed", exc_info=True)
                return
            self.post(lambda: self._preloaded(key, (p, window)))

        self._preload_thread = self.run_in_thread(work, "study-case-preload")

    def _preloaded(self: "StudyMode", key: tuple, loaded: tuple) -> None:
        if self.active and key == self._preload_key:
            self._preload = (key, loaded)

    def preload_done(self: "StudyMode", timeout: float | None = 60.0) -> None:
        """Wait for the next case's loading ahead (benchmarks, tests)."""
        if self._preload_thread is not None:
            self._preload_thread.join(timeout)
        QtWidgets.QApplication.processEvents()
