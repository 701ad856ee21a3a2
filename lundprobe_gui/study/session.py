"""An observer's session: one case at a time, ratings before editing, active time, crash-safe state.

The session is a plain model without Qt. The UI forwards user events to it (each with an
optional explicit ``now``) and reads back what to show; every method that changes something
writes the whole state atomically before it returns, so whatever a method has returned survives
a crash or a SIGKILL. Active-time ticks are the one exception: they are written at least every
``persist_interval_s`` seconds and at every other change, so a crash loses at most those seconds.

Typical use by the UI::

    with ObserverSession(study_dir, "obs1") as s:
        case = s.current_case()               # pseudonym, position, structures...
        s.visibility().apply(viewer_state, s.patient().sources())
        s.rate("quality", 3); s.rate("confidence", 4)
        mask = s.begin_editing()              # allowed once the ratings are complete
        ...                                   # edit a copy of ``mask`` with the edit tools
        s.save_edit(edited)                   # a new version in <study>/output
        s.finish_case()                       # locks the case, moves on
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import asdict
from pathlib import Path
from typing import Mapping

import numpy as np

from ..core.events import Emitter
from ..core.mask import Mask
from ..core.names import InvalidName, validate_observer
from ..core.patient import Patient
from ..core.text import InvalidText, validate_text
from ..io.guard import Protected, WriteRefused, claim_output_root, protect, unprotect
from ..io.open import NoImageError, open_patient
from .admin import AdminAuth
from .audit import append_audit
from .clock import Now, iso_utc, to_epoch
from .definition import StudyDefinition, load_study
from .errors import CaseLocked, NoCurrentCase, RatingFrozen, RatingsIncomplete, StepLocked, StudyError
from .files import lock_file, output_root, session_file, sessions_dir
from .locking import LockInfo, SessionLock
from .outputs import as_mask, load_saved, register_saved, save_structure
from .questions import Question, missing_answers
from .recovery import check_matches_study, new_state, repair_plain_outputs, sweep_temp_files
from .schedule import ALWAYS, current_case, first_unfinished_step, step_opens_at
from .state import (
    FINISHED,
    IN_PROGRESS,
    PENDING,
    Answer,
    CaseRecord,
    SessionState,
    StepRecord,
    load_state,
    save_state,
    state_bytes,
    state_from_bytes,
)
from .timing import ActiveTimer
from .views import ACTIVE, COMPLETE, WAITING, CaseView, Progress, SavedEdit
from .visibility import Visibility, hide_published_own_edits

logger = logging.getLogger(__name__)

MAX_REASON = 1000


class ObserverSession:
    """One observer working through a study.

    Opening takes the observer's lock (a second session is refused with :class:`SessionLocked`)
    and resumes from ``<study>/sessions/<observer>.json``: same step, case, active structure and
    ratings. Always :meth:`close` it (or use it as a context manager).

    Parameters
    ----------
    study_dir : path
        The study folder.
    observer : str
        One of the study's observer IDs.
    dataset_root : path, optional
        Where the patients are, if not where ``study.json`` recorded them.
    now : datetime or float, optional
        Time of opening.
    purpose : str
        ``session`` (an observer working) or ``admin`` (shown to a refused second opener).
    persist_interval_s : float
        Longest time between writes of the active-time counters.

    Attributes
    ----------
    changed : Emitter
        Called as ``callback(kind, **details)`` after every change, in the caller's thread. Kinds:
        ``case`` (a case started or became current), ``structure``, ``ratings``, ``editing``,
        ``edit_saved``, ``case_finished``, ``step_completed``, ``case_unlocked``,
        ``washout_overridden``.
    """

    def __init__(
        self,
        study_dir: str | Path,
        observer: str,
        *,
        dataset_root: str | Path | None = None,
        now: Now = None,
        purpose: str = "session",
        persist_interval_s: float = 5.0,
    ) -> None:
        self.study_dir = Path(study_dir)
        self.study: StudyDefinition = load_study(self.study_dir)
        try:
            validate_observer(observer)
        except InvalidName as e:
            raise StudyError(str(e)) from e
        if observer not in self.study.observers:
            raise StudyError(
                f"{observer!r} is not an observer of this study (observers: {', '.join(self.study.observers)})"
            )
        self.observer = observer
        self.dataset_root = Path(dataset_root) if dataset_root else Path(self.study.dataset_root)
        self.persist_interval_s = float(persist_interval_s)
        self.changed = Emitter()
        self._timer = ActiveTimer(self.study.idle_timeout_s)
        self._target: tuple[int, str, str] | None = None
        self._patient: Patient | None = None
        self._patient_case: tuple | None = None
        self._closed = False
        t = to_epoch(now)
        # The study's dataset is protected while the session lives: no write of it ever lands there.
        protected = Protected.of([self.dataset_root / p for p in self.study.patients], [self.dataset_root])
        token = protect(protected)
        self._unprotect = weakref.finalize(self, unprotect, token)
        try:
            claim_output_root(self.study_dir, "study", protected)
        except WriteRefused as e:
            raise StudyError(str(e)) from e
        sessions_dir(self.study_dir).mkdir(parents=True, exist_ok=True)
        self._lock = SessionLock(
            lock_file(self.study_dir, observer),
            purpose,
            on_stale=self._log_stale,
            remote_hint=" If that computer no longer runs the session (it crashed or was switched off), the "
            f"administrator can break the lock: lundprobe-gui study break-lock {self.study_dir} --observer {observer} "
            "--admin",
        )
        self._lock.acquire(t)
        try:
            self._state = self._load_or_create(t)
            sweep_temp_files(self.study_dir, observer, self.study.patients)
            repair_plain_outputs(self.study_dir, self._state)
        except BaseException:
            self._lock.release()
            raise
        self._last_write = t
        logger.info("opened the session of %s in %s (%s)", observer, self.study_dir, self.progress(t).text)

    # -- opening and closing ---------------------------------------------------------------------
    def _log_stale(self, info: LockInfo) -> None:
        append_audit(self.study_dir, "stale_lock_recovered", observer=self.observer, stale_lock=asdict(info))

    def _load_or_create(self, t: float) -> SessionState:
        path = session_file(self.study_dir, self.observer)
        state = load_state(path)
        if state is None:
            state = new_state(self.study, self.observer, t)
            self._saved = save_state(path, state)
        else:
            check_matches_study(self.study, state, self.observer, path)
            self._saved = state_bytes(state)
        return state

    def close(self, now: Now = None) -> None:
        """Stop the clock, write the state and release the lock (idempotent)."""
        if self._closed:
            return
        try:
            t = to_epoch(now)
            self._add_time(self._timer.pause(t))
            self._save(t)
        finally:
            self._closed = True
            self._lock.release()
            self._unprotect()
            logger.info("closed the session of %s", self.observer)

    def __enter__(self) -> "ObserverSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    # -- persistence -----------------------------------------------------------------------------
    def _save(self, t: float) -> None:
        # A change and its save are one step: when the save fails, the state goes back to what
        # the session file holds, so memory never runs ahead of the file.
        self._state.revision += 1
        self._state.updated_at = iso_utc(t)
        path = session_file(self.study_dir, self.observer)
        try:
            self._saved = save_state(path, self._state)
        except BaseException:
            self._state = state_from_bytes(self._saved, str(path))
            self._retarget(t)
            logger.warning("saving %s failed; the unsaved change was taken back", path)
            raise
        self._last_write = t

    def flush(self, now: Now = None) -> None:
        """Write the state now (the active-time counters included)."""
        self._check_open()
        t = to_epoch(now)
        self._add_time(self._timer.credit(t))
        self._save(t)

    def _check_open(self) -> None:
        if self._closed:
            raise StudyError("this session is closed")

    # -- steps and cases -------------------------------------------------------------------------
    def step_available_at(self, step: int) -> float | None:
        """When ``step`` opens (POSIX seconds; ``-inf`` when open now): None while the step before is unfinished.

        Step 1 is always open. A later step opens ``washout_days`` after the observer first
        finished the step before it, or at once when an admin overrode the washout.
        """
        return step_opens_at(self.study, self._state, step)

    def _current(self, t: float) -> tuple[StepRecord, CaseRecord] | None:
        return current_case(self.study, self._state, t)

    def _waiting_step(self) -> int | None:
        return first_unfinished_step(self.study, self._state)

    def status(self, now: Now = None) -> str:
        """``active``, ``waiting_washout`` or ``complete``."""
        t = to_epoch(now)
        if self._current(t) is not None:
            return ACTIVE
        return WAITING if self._waiting_step() is not None else COMPLETE

    def progress(self, now: Now = None) -> Progress:
        """The current step, case position and counts (``Case k of N``)."""
        t = to_epoch(now)
        cur = self._current(t)
        if cur is not None:
            rec, case = cur
            done = sum(c.status == FINISHED for c in rec.cases)
            return Progress(ACTIVE, rec.step, case.position, len(rec.cases), done)
        k = self._waiting_step()
        if k is None:
            last = self._state.steps[self.study.steps[-1].step]
            return Progress(COMPLETE, None, 0, len(last.cases), len(last.cases))
        rec = self._state.steps[k]
        opens = self.step_available_at(k)
        when = iso_utc(opens) if opens is not None and opens != ALWAYS else None
        return Progress(WAITING, k, 0, len(rec.cases), sum(c.status == FINISHED for c in rec.cases), when)

    def current_case(self, now: Now = None) -> CaseView | None:
        """The case to work on now, or None (waiting for a washout, or all done)."""
        cur = self._current(to_epoch(now))
        if cur is None:
            return None
        rec, case = cur
        rules = self.study.step(rec.step)
        return CaseView(
            rec.step,
            case.position,
            len(rec.cases),
            case.pseudonym,
            case.status,
            tuple(case.structures),
            case.active_structure,
            rules.title,
            rules.instructions,
        )

    def _require_current(self, t: float) -> tuple[StepRecord, CaseRecord]:
        cur = self._current(t)
        if cur is not None:
            return cur
        k = self._waiting_step()
        if k is None:
            raise NoCurrentCase("every step of this study is finished")
        opens = self.step_available_at(k)
        if opens is None:
            raise StepLocked(f"step {k} starts after step {k - 1} is finished")
        raise StepLocked(
            f"step {k} is locked until {iso_utc(opens)} (washout of {self.study.washout_days:g} days "
            f"after step {k - 1}); only the study administrator can override this"
        )

    def _start_if_pending(self, rec: StepRecord, case: CaseRecord, t: float) -> bool:
        if case.status != PENDING:
            return False
        case.status = IN_PROGRESS
        case.started_at = iso_utc(t)
        srec = case.structures[case.active_structure]
        srec.started_at = srec.started_at or iso_utc(t)
        return True

    # -- time ------------------------------------------------------------------------------------
    def _add_time(self, seconds: float) -> None:
        if seconds <= 0 or self._target is None:
            return
        step, patient, structure = self._target
        for case in self._state.steps[step].cases:
            if case.patient == patient:
                case.structures[structure].active_seconds += seconds
                return

    def _retarget(self, t: float) -> None:
        cur = self._current(t)
        if cur is None or cur[1].status != IN_PROGRESS:
            self._target = None
        else:
            self._target = (cur[0].step, cur[1].patient, cur[1].active_structure)

    def _input(self, t: float) -> tuple[StepRecord, CaseRecord]:
        """An input that acts on the current case: credit the time, start the case if needed."""
        self._check_open()
        self._add_time(self._timer.activity(t))
        rec, case = self._require_current(t)
        if self._start_if_pending(rec, case, t):
            self.changed.emit("case", step=rec.step, pseudonym=case.pseudonym)
        self._retarget(t)
        return rec, case

    def activity(self, now: Now = None) -> None:
        """Any input (mouse, key, wheel) in the case window: keeps the active-time clock running."""
        self._check_open()
        t = to_epoch(now)
        self._add_time(self._timer.activity(t))
        cur = self._current(t)
        started = False
        if cur is not None:
            started = self._start_if_pending(*cur, t)
        self._retarget(t)
        if started:
            self._save(t)
            self.changed.emit("case", step=cur[0].step, pseudonym=cur[1].pseudonym)  # type: ignore[index]
        elif t - self._last_write >= self.persist_interval_s:
            self._save(t)

    def window_minimised(self, now: Now = None) -> None:
        """The window was minimised (or hidden): the clock pauses at once."""
        self._check_open()
        t = to_epoch(now)
        self._add_time(self._timer.window_minimised(t))
        self._save(t)

    def window_restored(self, now: Now = None) -> None:
        """The window is visible again: the clock runs as after an input."""
        self._check_open()
        t = to_epoch(now)
        self._add_time(self._timer.window_restored(t))
        self._retarget(t)
        if t - self._last_write >= self.persist_interval_s:
            self._save(t)

    def active_seconds(self, structure: str | None = None, now: Now = None) -> float:
        """Active seconds of the current case, or of one of its structures (0 when no case is open).

        With ``now``, the seconds earned since the last event are included.
        """
        t = to_epoch(now) if now is not None else None
        cur = self._current(t if t is not None else to_epoch(None))
        if cur is None:
            return 0.0
        case = cur[1]
        if t is not None and not self._closed:
            self._add_time(self._timer.credit(t))
        if structure is None:
            return case.active_seconds
        return case.structures[self._structure(case, structure)].active_seconds

    # -- structures and ratings ------------------------------------------------------------------
    @property
    def structures(self) -> tuple[str, ...]:
        """The structures rated and edited in every case, in order."""
        return self.study.structures

    @property
    def questions(self) -> tuple[Question, ...]:
        """The rating questions, in the order to ask them."""
        return self.study.questions

    def _structure(self, case: CaseRecord, structure: str | None) -> str:
        name = structure or case.active_structure
        if name not in case.structures:
            raise StudyError(f"{name!r} is not a structure of this study ({', '.join(case.structures)})")
        return name

    def select_structure(self, structure: str, now: Now = None) -> None:
        """Make ``structure`` the active one (its time starts counting)."""
        t = to_epoch(now)
        rec, case = self._input(t)
        name = self._structure(case, structure)
        self._activate(case, name, t)
        self._retarget(t)
        self._save(t)

    def _activate(self, case: CaseRecord, name: str, t: float) -> None:
        if case.active_structure != name:
            case.active_structure = name
            self.changed.emit("structure", structure=name)
        srec = case.structures[name]
        srec.started_at = srec.started_at or iso_utc(t)

    def ratings(self, structure: str | None = None, now: Now = None) -> dict[str, Answer]:
        """The current case's answers for a structure (default: the active one)."""
        cur = self._current(to_epoch(now))
        if cur is None:
            return {}
        case = cur[1]
        return dict(case.structures[self._structure(case, structure)].ratings)

    def missing_ratings(self, structure: str | None = None, now: Now = None) -> list[str]:
        """IDs of the required questions still unanswered for a structure of the current case."""
        _, case = self._require_current(to_epoch(now))
        srec = case.structures[self._structure(case, structure)]
        return missing_answers(self.study.questions, srec.ratings)

    def can_edit(self, structure: str | None = None, now: Now = None) -> bool:
        """Whether editing may start: every required rating of the structure is given."""
        try:
            return not self.missing_ratings(structure, now)
        except StudyError:
            return False

    def rate(self, question: str, value: int | str, structure: str | None = None, now: Now = None) -> Answer:
        """Answer a rating question for a structure of the current case (default: the active one).

        Scale answers rate the starting mask, so they are fixed once editing of the structure has
        begun (:class:`RatingFrozen`); the comment may change until the case is finished.
        """
        try:
            q = self.study.question(question)
        except KeyError as e:
            raise StudyError(str(e.args[0])) from None
        try:
            v = q.validate(value)
        except ValueError as e:
            raise StudyError(str(e)) from None
        t = to_epoch(now)
        rec, case = self._input(t)
        name = self._structure(case, structure)
        srec = case.structures[name]
        if q.freezes_on_edit and srec.editing_started_at:
            raise RatingFrozen(f"{q.id} of {name} was fixed when editing began at {srec.editing_started_at}")
        self._activate(case, name, t)
        self._retarget(t)
        old = srec.ratings.get(q.id)
        if old is not None:
            srec.rating_history.append({"question": q.id, "value": old.value, "at": old.at, "replaced_at": iso_utc(t)})
        answer = Answer(v, iso_utc(t))
        srec.ratings[q.id] = answer
        self._save(t)
        self.changed.emit("ratings", structure=name, question=q.id)
        return answer

    # -- masks and editing -----------------------------------------------------------------------
    def patient_path(self, now: Now = None) -> Path:
        """Folder of the current case's patient, for loading only: never show it to the observer."""
        _, case = self._require_current(to_epoch(now))
        return self.study.patient_dir(case.patient, self.dataset_root)

    def patient(self, now: Now = None) -> Patient:
        """The current case's patient (opened once per case, headers only; pixels load on demand).

        Published edits that carry this observer's own source name are removed from the model,
        and the study's saved edits are put in their place.
        """
        _, case = self._require_current(to_epoch(now))
        # one model per case: a model reused across steps would still hold the other step's saved edits
        case_key = (self._step_of(case), case.patient, case.pseudonym)
        if self._patient is None or self._patient_case != case_key:
            path = self.study.patient_dir(case.patient, self.dataset_root)
            try:
                p = open_patient(path, edits=False)
            except NoImageError as e:
                raise StudyError(f"{case.pseudonym} cannot be opened: {e}") from e
            self._prepare_patient(p, case)
            self._patient = p
            self._patient_case = case_key
        return self._patient

    def attach_patient(self, patient: Patient, now: Now = None) -> None:
        """Use a patient the UI opened itself (e.g. in its background loader) for the current case."""
        _, case = self._require_current(to_epoch(now))
        if patient.id != case.patient:
            raise StudyError("the patient given is not the current case's patient")
        self._prepare_patient(patient, case)
        self._patient = patient
        self._patient_case = (self._step_of(case), case.patient, case.pseudonym)

    def _prepare_patient(self, patient: Patient, case: CaseRecord) -> None:
        if self.study.frame not in patient.frames:
            raise StudyError(f"{case.pseudonym} has no {self.study.frame} frame")
        hide_published_own_edits(patient, self.observer, self.study.frame, output_root(self.study_dir))
        # only the current step's saved edits go in: the other steps' stay out of the model
        register_saved(patient, self.study_dir, self.study, self.observer, self._step_of(case), case, self.study.frame)

    def _step_of(self, case: CaseRecord) -> int:
        for k, rec in self._state.steps.items():
            if any(c is case for c in rec.cases):
                return k
        raise KeyError(case.pseudonym)

    def start_mask(self, structure: str | None = None, now: Now = None) -> Mask:
        """A copy of the mask the structure's edit starts from (the DL mask by default)."""
        _, case = self._require_current(to_epoch(now))
        name = self._structure(case, structure)
        try:
            return self.patient(now).mask_obj(name, self.study.start_source, self.study.frame).copy()
        except KeyError as e:
            raise StudyError(f"{case.pseudonym} has no {self.study.start_source} mask for {name}") from e
        except ValueError as e:
            raise StudyError(
                f"{case.pseudonym}: the {self.study.start_source} mask of {name} cannot be read ({e})"
            ) from e

    def working_mask(self, structure: str | None = None, now: Now = None) -> Mask:
        """The structure's latest saved edit in this case, or a copy of its start mask."""
        _, case = self._require_current(to_epoch(now))
        name = self._structure(case, structure)
        srec = case.structures[name]
        if srec.output_version:
            return load_saved(self.study_dir, srec.output_version)
        return self.start_mask(name, now)

    @property
    def target_source(self) -> str:
        """The source the current step's edits are saved as: ``step<k>_<observer>``."""
        k = self._waiting_step() or self.study.steps[-1].step
        return self.study.target_source(k, self.observer)

    def _editable(self, structure: str | None, t: float):
        """(record, case, name, structure record) of a structure that may be edited now, made active.

        Raises RatingsIncomplete when a required rating is missing: edits come after the ratings.
        """
        rec, case = self._input(t)
        name = self._structure(case, structure)
        missing = missing_answers(self.study.questions, case.structures[name].ratings)
        if missing:
            raise RatingsIncomplete(name, missing)
        self._activate(case, name, t)
        self._retarget(t)
        return rec, case, name, case.structures[name]

    def begin_editing(self, structure: str | None = None, now: Now = None) -> Mask:
        """Start editing a structure; returns the mask to edit (a copy of the working mask).

        Raises
        ------
        RatingsIncomplete
            When a required rating of the structure is missing.
        """
        t = to_epoch(now)
        rec, case, name, srec = self._editable(structure, t)
        if srec.editing_started_at is None:
            srec.editing_started_at = iso_utc(t)
            self._save(t)
            self.changed.emit("editing", structure=name)
        return self.working_mask(name, t)

    def save_edit(
        self, mask: Mask | np.ndarray, structure: str | None = None, now: Now = None, tool: str | None = None
    ) -> SavedEdit:
        """Save the edited mask of a structure as a new version in the study's output folder.

        Parameters
        ----------
        mask : Mask or numpy.ndarray
            The edited mask on the frame's grid ((z, y, x), non-zero inside).
        structure : str, optional
            Default: the active structure.
        now : datetime or float, optional
            Event time.
        tool : str, optional
            Recorded in the provenance sidecar.

        Raises
        ------
        RatingsIncomplete
            When a required rating is missing (edits come after the ratings).
        """
        t = to_epoch(now)
        rec, case, name, srec = self._editable(structure, t)
        srec.editing_started_at = srec.editing_started_at or iso_utc(t)
        saved = self._write_mask(rec, case, name, mask, t, tool or "lundprobe_gui study")
        self._save(t)
        self.changed.emit("edit_saved", structure=name, version=saved.version_file.name)
        return saved

    def _write_mask(
        self, rec: StepRecord, case: CaseRecord, name: str, mask: Mask | np.ndarray, t: float, tool: str
    ) -> SavedEdit:
        if case.status == FINISHED:
            raise CaseLocked(f"{case.pseudonym} is finished and locked")
        patient = self.patient(t)
        m = as_mask(mask, patient.frames[self.study.frame].geometry.shape_zyx, self.study.frame)
        return save_structure(
            self.study_dir,
            self.study,
            self.observer,
            rec.step,
            patient,
            case,
            name,
            m,
            self.start_mask(name, t),
            t,
            tool,
        )

    def finish_case(self, now: Now = None, masks: Mapping[str, Mask | np.ndarray] | None = None) -> CaseView:
        """Finish the current case: save the given (or unchanged) masks, lock the case, move on.

        Parameters
        ----------
        now : datetime or float, optional
            Event time.
        masks : mapping, optional
            Final masks by structure, saved before finishing. A structure never saved and not in
            ``masks`` is saved unchanged (the observer accepted the start mask as it is).

        Returns
        -------
        CaseView
            The case just finished.

        Raises
        ------
        RatingsIncomplete
            When a structure still lacks a required rating; nothing is saved then.
        """
        t = to_epoch(now)
        rec, case = self._input(t)
        for name in case.structures:
            missing = missing_answers(self.study.questions, case.structures[name].ratings)
            if missing:
                raise RatingsIncomplete(name, missing)
        for name, srec in case.structures.items():
            if masks is not None and name in masks:
                self._write_mask(rec, case, name, masks[name], t, "lundprobe_gui study")
                srec.editing_started_at = srec.editing_started_at or iso_utc(t)
                self._save(t)
            elif srec.output_version is None:
                self._write_mask(rec, case, name, self.start_mask(name, t), t, "accepted unchanged")
                self._save(t)
        case.status = FINISHED
        case.finished_at = iso_utc(t)
        done = self._state.steps[rec.step]
        step_done = done.finished() and done.completed_at is None
        if step_done:
            done.completed_at = iso_utc(t)
        view = CaseView(
            rec.step,
            case.position,
            len(rec.cases),
            case.pseudonym,
            FINISHED,
            tuple(case.structures),
            case.active_structure,
            self.study.step(rec.step).title,
            self.study.step(rec.step).instructions,
        )
        nxt = self._current(t)
        if nxt is not None:
            self._start_if_pending(*nxt, t)
        self._retarget(t)
        self._save(t)
        append_audit(
            self.study_dir,
            "case_finished",
            now=t,
            observer=self.observer,
            step=rec.step,
            pseudonym=case.pseudonym,
            patient=case.patient,
            active_seconds=round(case.active_seconds, 1),
        )
        if step_done:
            append_audit(self.study_dir, "step_completed", now=t, observer=self.observer, step=rec.step)
        self.changed.emit("case_finished", step=rec.step, pseudonym=case.pseudonym)
        if step_done:
            self.changed.emit("step_completed", step=rec.step)
        if nxt is not None:
            self.changed.emit("case", step=nxt[0].step, pseudonym=nxt[1].pseudonym)
        return view

    # -- blinding --------------------------------------------------------------------------------
    def visibility(self, now: Now = None) -> Visibility:
        """The blinding rules of the current step (of the next step while waiting, of the last when done)."""
        cur = self._current(to_epoch(now))
        k = cur[0].step if cur is not None else (self._waiting_step() or self.study.steps[-1].step)
        return Visibility.for_step(
            self.study.step(k), self.observer, self.study.start_source, output_root(self.study_dir)
        )

    def hidden_sources(self, now: Now = None) -> set[str]:
        """The current patient's sources that must be hidden (for ``ViewerState.hidden_sources``)."""
        return self.visibility(now).hidden_sources(self.patient(now).sources())

    def can_open(self, source: str, path: str | Path | None = None, now: Now = None) -> bool:
        """Whether a layer may be opened now (call before opening any layer)."""
        return self.visibility(now).can_open(source, path)

    # -- admin -----------------------------------------------------------------------------------
    def _find_finished(self, pseudonym: str, step: int | None) -> tuple[StepRecord, CaseRecord]:
        found = [
            (rec, c)
            for k, rec in sorted(self._state.steps.items())
            if step is None or k == step
            for c in rec.cases
            if c.matches(pseudonym)
        ]
        if not found:
            where = f" in step {step}" if step is not None else ""
            raise StudyError(f"{self.observer} has no case {pseudonym!r}{where}")
        finished = [(r, c) for r, c in found if c.status == FINISHED]
        if not finished:
            raise StudyError(f"{pseudonym} of {self.observer} is not finished, so it is not locked")
        if len(finished) > 1:
            raise StudyError(f"{pseudonym} is finished in steps {[r.step for r, _ in finished]}: say which step")
        return finished[0]

    def unlock_case(
        self, pseudonym: str, admin: AdminAuth, step: int | None = None, reason: str = "", now: Now = None
    ) -> None:
        """Reopen a finished case (admin only; logged). It becomes the current case of its step.

        The step's first completion time (the start of the washout) is kept.
        """
        self._check_open()
        if not isinstance(admin, AdminAuth):
            raise StudyError("unlocking a finished case needs the administrator")
        reason = _reason(reason)
        t = to_epoch(now)
        self._add_time(self._timer.pause(t))
        rec, case = self._find_finished(pseudonym, step)
        case.unlocks.append(
            {
                "at": iso_utc(t),
                "by": admin.by,
                "method": admin.method,
                "reason": reason,
                "previous_finished_at": case.finished_at,
            }
        )
        case.status = IN_PROGRESS
        case.finished_at = None
        self._retarget(t)
        self._save(t)
        append_audit(
            self.study_dir,
            "case_unlocked",
            now=t,
            observer=self.observer,
            step=rec.step,
            pseudonym=case.pseudonym,
            patient=case.patient,
            by=admin.by,
            method=admin.method,
            reason=reason,
        )
        self.changed.emit("case_unlocked", step=rec.step, pseudonym=case.pseudonym)

    def override_washout(self, admin: AdminAuth, step: int | None = None, reason: str = "", now: Now = None) -> int:
        """Open a later step without waiting for the washout (admin only; logged). Returns the step.

        The step still starts only after the previous one is finished.
        """
        self._check_open()
        if not isinstance(admin, AdminAuth):
            raise StudyError("overriding the washout needs the administrator")
        reason = _reason(reason)
        t = to_epoch(now)
        if step is None:
            later = [s.step for s in self.study.steps[1:] if not self._state.steps[s.step].washout_override]
            step = next((k for k in later if not self._state.steps[k].finished()), None)
            if step is None:
                raise StudyError("no step is waiting for a washout")
        if step not in self._state.steps or step == 1:
            raise StudyError(f"step {step} has no washout to override")
        rec = self._state.steps[step]
        if rec.washout_override:
            raise StudyError(f"the washout before step {step} was already overridden at {rec.washout_override['at']}")
        rec.washout_override = {"at": iso_utc(t), "by": admin.by, "method": admin.method, "reason": reason}
        self._retarget(t)
        self._save(t)
        append_audit(
            self.study_dir,
            "washout_overridden",
            now=t,
            observer=self.observer,
            step=step,
            by=admin.by,
            method=admin.method,
            reason=reason,
        )
        self.changed.emit("washout_overridden", step=step)
        return step

    # -- read-only views -------------------------------------------------------------------------
    @property
    def state(self) -> SessionState:
        """The stored state (read it, do not change it: every change goes through the methods)."""
        return self._state


def _reason(text: str) -> str:
    """An admin's reason, checked before it goes into the state and the audit log."""
    try:
        return validate_text(text, "the reason", MAX_REASON)
    except InvalidText as e:
        raise StudyError(str(e)) from None
