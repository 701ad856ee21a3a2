"""Loading a study case in the background: open the patient, check it, then load only what the step may show.

Opening a patient reads the headers of every file of its folder, and a copy of the dataset is
checked against the recorded hashes: both run on a worker thread (:class:`CaseOpener`), so the
window never waits for them. The layers are then loaded by the window's one patient loader
(:class:`~lundprobe_gui.ui.loader.PatientLoader`) following :func:`case_plan`: the MRI and the
start masks first, every hidden source never at all (no voxel of it is read), and the dose and the
uncertainty map only in the steps that show them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtWidgets

from ..core.loading import LoadPlan, load_plan, main_image
from ..core.patient import Patient
from ..io.open import open_patient
from ..render.window import percentile_window
from ..study import ObserverSession, StudyError, check_patient_files

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

    def load_plan(self) -> LoadPlan:
        """The plan the patient loader runs: the image and start masks first, then the rest."""
        return LoadPlan(first=[*self.first_volumes, *self.first_masks], rest=[*self.volumes, *self.masks])


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

    # What StudyMode gives its mixins, declared for the type checker, and this mixin's own state, set in
    # StudyMode.__init__.
    session: ObserverSession | None
    background: bool
    _preload: tuple[tuple, tuple] | None
    """(case key, (patient, MRI window)) of the case loaded ahead, until it is shown."""
    _preload_key: tuple | None
    _preload_thread: threading.Thread | None

    if TYPE_CHECKING:

        @property
        def active(self) -> bool: ...

        @staticmethod
        def post(fn: Callable[[], None]) -> None: ...

        def run_in_thread(self, fn: Callable[[], None], name: str) -> threading.Thread: ...

    def _copy_check(self, path: Path) -> Callable[[], None] | None:
        """The check of a case's files in a dataset copy (run in the opening thread), or None."""
        s = self.session
        if s is None or not s.dataset_copy:
            return None
        study, root = s.study, s.dataset_root

        def check() -> None:
            why = check_patient_files(study, path.name, root, full=True)
            if why:
                raise StudyError(f"{why}; this is not the study's dataset")

        return check

    def _start_preload(self) -> None:
        """Open the next case's patient and load its image and start masks while the observer works on this one."""
        s = self.session
        if s is None or not self.active or not self.background:
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
                mri = main_image(p)
                starts = [p.reference_frame.structures.get((name, start)) for name in names]
                first = [mri] if mri is not None else []
                load_plan(p, LoadPlan(first=[*first, *(r for r in starts if r is not None)]))
                window = percentile_window(mri.data) if mri is not None and mri.data is not None else None
            except Exception:
                logger.info("loading the next case ahead failed", exc_info=True)
                return
            self.post(lambda: self._preloaded(key, (p, window)))

        self._preload_thread = self.run_in_thread(work, "study-case-preload")

    def _preloaded(self, key: tuple, loaded: tuple) -> None:
        if self.active and key == self._preload_key:
            self._preload = (key, loaded)

    def preload_done(self, timeout: float | None = 60.0) -> None:
        """Wait for the next case's loading ahead (benchmarks, tests)."""
        if self._preload_thread is not None:
            self._preload_thread.join(timeout)
        QtWidgets.QApplication.processEvents()
