"""An observer's session: one case at a time, ratings before editing, active time, crash-safe state.

The session is a plain model without Qt, built on the shared :class:`~lundprobe_gui.session.base.WorkSession`.
The UI forwards user events to it and reads back what to show. Every event is logged in
``sessions/<observer>.events.jsonl``; active time is the one rule of
:mod:`lundprobe_gui.session.activetime` applied to those events. By default every method that
changes something writes the whole state before it returns, so whatever a method has returned
survives a crash; input events alone are written at least every few seconds. The window opens
its session with ``background=True``: writes (state and masks) then run in order on a worker
thread and nothing waits for the disk.

Typical use by a script::

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

import hashlib
import logging
from collections.abc import Hashable
from dataclasses import asdict
from pathlib import Path
from typing import cast

from ..core.names import InvalidName, validate_observer
from ..io.guard import Protected, WriteRefused
from ..session.base import WorkSession, protect_while_open
from ..session.clock import Now, event_time, iso_utc, to_epoch
from ..session.writer import Post
from .audit import append_audit, read_audit
from .chain import AuditChain, check_session_chain
from .definition import StudyDefinition, load_study
from .errors import CorruptStudyFile, NoCurrentCase, RatingFrozen, StepLocked, StudyError
from .files import events_file, lock_file, output_root, read_json_bytes, session_file, sessions_dir
from .locking import LockInfo, SessionLock
from .questions import Question, missing_answers
from .recovery import new_state, repair_plain_outputs, sweep_temp_files
from .schedule import ALWAYS, current_case, first_unfinished_step, step_opens_at
from .seal import check_definition
from .session_admin import AdminActions
from .session_work import CaseWork
from .state import FINISHED, IN_PROGRESS, PENDING, Answer, CaseRecord, SessionState, StepRecord, state_from_bytes
from .step_questionnaire import StepQuestionnaire
from .validate import validate_state
from .views import ACTIVE, COMPLETE, WAITING, CaseView, Progress
from .visibility import Visibility

logger = logging.getLogger(__name__)


class ObserverSession(CaseWork, AdminActions, StepQuestionnaire, WorkSession):
    """One observer working through a study.

    Opening checks the sealed ``study.json``, takes the observer's lock (a second session is
    refused with :class:`SessionLocked`), checks the session file (content and hash chain) and
    resumes from it: same step, case, active structure and ratings. Always :meth:`close` it (or
    use it as a context manager).

    Parameters
    ----------
    study_dir : path
        The study folder.
    observer : str
        One of the study's observer IDs.
    dataset_root : path, optional
        Where the patients are, if not where ``study.json`` recorded them (a local copy: each
        case's files are checked against the hashes recorded at ``study init`` before it opens).
    now : datetime or float, optional
        Time of opening (within 5 minutes of the clock, unless the test clock is enabled).
    purpose : str
        ``session`` (an observer working) or ``admin`` (an administrator's command: its events
        credit no time, and the observer's PIN is not asked).
    pin : str, optional
        The observer's PIN, when the study gives the observer one.
    background : bool
        Write on a background thread (the window) instead of before each method returns.
    post : callable, optional
        How background results reach the caller's thread.

    Attributes
    ----------
    changed : Emitter
        Called as ``callback(kind, **details)`` after every change, in the caller's thread. Kinds:
        ``case`` (a case started or became current), ``structure``, ``ratings``, ``editing``,
        ``edit_saved``, ``case_finished``, ``step_completed``, ``case_unlocked``,
        ``washout_overridden``, ``questionnaire`` (an end-of-step questionnaire was submitted).
    """

    def __init__(
        self,
        study_dir: str | Path,
        observer: str,
        *,
        dataset_root: str | Path | None = None,
        now: Now = None,
        purpose: str = "session",
        pin: str | None = None,
        background: bool = False,
        post: Post | None = None,
    ) -> None:
        self.study_dir = Path(study_dir)
        self.study: StudyDefinition = load_study(self.study_dir)
        t = event_time(now)
        self.purpose = purpose
        self._check_observer(observer, pin, purpose)
        self.observer = observer
        recorded = self.study.dataset_path(self.study_dir)
        self.dataset_root = Path(dataset_root) if dataset_root else recorded
        self.dataset_copy = bool(dataset_root and _resolved(dataset_root) != _resolved(recorded))
        # the study's dataset (and a copy in use) is protected while the session lives: no write ever lands there
        roots = {self.dataset_root, recorded}
        protected = Protected.of([r / p for r in roots for p in self.study.patients], list(roots))
        try:
            self._unprotect = protect_while_open(self, self.study_dir, "study", protected)
        except WriteRefused as e:
            raise StudyError(str(e)) from e
        sessions_dir(self.study_dir).mkdir(parents=True, exist_ok=True)
        WorkSession.__init__(
            self,
            lock=SessionLock(
                lock_file(self.study_dir, observer),
                purpose,
                on_stale=self._log_stale,
                remote_hint=" If that computer no longer runs the session (it crashed or was switched off), the "
                f"administrator can break the lock: lundprobe-gui study break-lock {self.study_dir} "
                f"--observer {observer} --admin",
            ),
            state_path=session_file(self.study_dir, observer),
            events_path=events_file(self.study_dir, observer),
            rule=self.study.idle_rule,
            chain=AuditChain(self.study_dir, observer),
            background=background,
            post=post,
        )
        self._init_work()
        self._uncertainty_shown = True
        self._visibility: dict[int, Visibility] = {}
        try:
            self._lock_file.acquire(t)
        except BaseException:
            self._unprotect()
            raise
        try:
            audit = read_audit(self.study_dir)
            self.seal = check_definition(self.study_dir, audit)
            saved = self._load_or_create(t, audit)
            try:
                self._open(t, saved, self._state.revision, self._state.events)
            except ValueError as e:  # the event log is not the one the session file acknowledges
                raise self._damaged(events_file(self.study_dir, observer), str(e)) from e
            sweep_temp_files(self.study_dir, observer, self.study.patients)
            repair_plain_outputs(self.study_dir, self._state)
        except BaseException:
            self._lock_file.release()
            self._unprotect()
            raise
        logger.info("opened the session of %s in %s (%s)", observer, self.study_dir, self.progress(t).text)

    def close(self, now: Now = None) -> None:
        """Log the end, write everything, release the lock and the dataset's protection (idempotent)."""
        try:
            WorkSession.close(self, now)
        finally:
            self._unprotect()

    # -- opening ---------------------------------------------------------------------------------------
    def _check_observer(self, observer: str, pin: str | None, purpose: str) -> None:
        try:
            validate_observer(observer)
        except InvalidName as e:
            raise StudyError(str(e)) from e
        pins = self.study.observer_pins
        known = observer in self.study.observers
        if pins and purpose != "admin":
            secret = pins.get(observer)
            if not known or (secret is not None and not secret.verify(pin)):
                append_audit(self.study_dir, "observer_refused", observer=observer[:64], reason="ID or PIN")
                raise StudyError("this observer ID and PIN are not accepted; check both and try again")
        elif not known:
            # the valid IDs are not listed: a typo must not show everyone else's ID
            raise StudyError(f"{observer!r} is not an observer of this study; check the ID you were given")

    def _log_stale(self, info: LockInfo) -> None:
        append_audit(self.study_dir, "stale_lock_recovered", observer=self.observer, stale_lock=asdict(info))

    def _load_or_create(self, t: float, audit: list[dict]) -> bytes:
        path = session_file(self.study_dir, self.observer)
        if not path.exists() and not path.is_symlink():
            self._state = new_state(self.study, self.observer, t)
            self._state.definition_sha256 = self.seal.actual
            data, _sha = self._new_state_saved()
            self._state.revision = 1
            return data
        raw, data = read_json_bytes(path, "session file")
        state = SessionState.from_dict(data, str(path))
        validate_state(self.study, state, self.observer, path)  # names what is wrong, when it can
        chain = check_session_chain(self.study_dir, self.observer, audit, hashlib.sha256(raw).hexdigest())
        if not chain.ok:
            raise self._damaged(path, chain.reason)
        self._state = state
        return raw

    def _damaged(self, path: Path, why: str) -> StudyError:
        return CorruptStudyFile(
            f"{path}: {why}. The session cannot open until the administrator has looked at it; to accept the file "
            f"as it is: lundprobe-gui study reseal {self.study_dir} --observer {self.observer} --admin --reason TEXT"
        )

    # -- the state for the shared machinery ----------------------------------------------------------
    def _state_dict(self) -> dict:
        self._state.updated_at = iso_utc(self._event_time_hint)
        return self._state.to_dict(self._finishing, self._completing)

    def _restore_state(self, data: bytes) -> None:
        self._state = state_from_bytes(data, str(session_file(self.study_dir, self.observer)))
        self._finishing, self._completing = {}, set()

    def _time_target(self) -> Hashable | None:
        if self.purpose == "admin":
            return None
        cur = current_case(self.study, self._state, self._event_time_hint)
        if cur is None or cur[1].status != IN_PROGRESS:
            return None
        rec, case = cur
        return (rec.step, case.patient, case.active_structure)

    def _target_fields(self, target: Hashable | None) -> dict:
        if target is None:
            return {}
        step, patient, structure = cast("tuple[int, str, str]", target)
        case = self._case_of(step, patient)
        return {"step": step, "patient": patient, "pseudonym": case.pseudonym, "structure": structure}

    def _gap_flags(self) -> tuple[str, ...]:
        target = self._time_target()
        if target is None or not self._uncertainty_shown:
            return ()
        step, patient, structure = cast("tuple[int, str, str]", target)
        rules = self.study.rules_for(self.observer, step)
        if rules.show_uncertainty and self.study.uncertainty_available(patient, structure):
            return ("unc",)
        return ()

    def _credit(self, target: Hashable, seconds: float, flags: frozenset[str]) -> None:
        step, patient, structure = cast("tuple[int, str, str]", target)
        srec = self._case_of(step, patient).structures[structure]
        srec.active_seconds += seconds
        if "unc" in flags:
            srec.uncertainty_visible_seconds += seconds

    def _case_of(self, step: int, patient: str) -> CaseRecord:
        return next(c for c in self._state.steps[step].cases if c.patient == patient)

    @property
    def _event_time_hint(self) -> float:
        return getattr(self, "_hint", None) or to_epoch(None)

    def _event(self, kind, t, **kw):
        self._hint = t
        return super()._event(kind, t, **kw)

    # -- steps and cases -------------------------------------------------------------------------------
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
        return self._view(*cur)

    def next_case_preview(self, now: Now = None) -> tuple[int, str, Path] | None:
        """(step, pseudonym, patient folder) of the case that comes after the current one is finished.

        For loading it ahead while the observer works (never show its folder). None when there is
        no current case, or when the next case lies behind a washout that is not over by then.
        """
        t = to_epoch(now)
        cur = self._current(t)
        if cur is None:
            return None
        rec, case = cur
        others = [c for c in rec.cases if c is not case and c.status != FINISHED]
        started = [c for c in others if c.status == IN_PROGRESS]
        nxt = min(started, key=lambda c: c.position) if started else next(iter(others), None)
        k = rec.step
        if nxt is None:
            later = [r.step for r in self.study.steps if r.step > rec.step]
            if not later:
                return None
            k = later[0]
            nrec = self._state.steps[k]
            if not (nrec.washout_override or self.study.washout_days == 0):
                return None
            nxt = next((c for c in nrec.cases if c.status != FINISHED), None)
            if nxt is None:
                return None
        return k, nxt.pseudonym, self.study.patient_dir(nxt.patient, self.dataset_root)

    def _view(self, rec: StepRecord, case: CaseRecord, status: str | None = None) -> CaseView:
        rules = self.study.rules_for(self.observer, rec.step)
        return CaseView(
            rec.step,
            case.position,
            len(rec.cases),
            case.pseudonym,
            status or case.status,
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

    def _input(self, t: float) -> tuple[StepRecord, CaseRecord]:
        """The current case for an input acting on it (started if it was pending); call inside an event."""
        self._check_open()
        rec, case = self._require_current(t)
        if self._start_if_pending(rec, case, t):
            self._emit_later("case", step=rec.step, pseudonym=case.pseudonym)
        return rec, case

    def activity(self, now: Now = None) -> None:
        """Any input (mouse, key, wheel) in the case window: an event that keeps the active-time clock running."""
        self._check_open()
        t = event_time(now)
        started = None
        with self._event("input", t, commit=None) as ev:
            cur = self._current(t)
            if cur is not None and self.purpose != "admin" and self._start_if_pending(*cur, t):
                started, ev["case_started"] = cur, True
        if started is not None:
            self._commit(t)
            self.changed.emit("case", step=started[0].step, pseudonym=started[1].pseudonym)

    def active_seconds(self, structure: str | None = None, now: Now = None) -> float:
        """Active seconds of the current case, or of one of its structures (0 when no case is open).

        With ``now``, what the time since the last event would add is included (a live clock).
        """
        t = to_epoch(now)
        cur = self._current(t)
        if cur is None:
            return 0.0
        rec, case = cur
        name = self._structure(case, structure) if structure is not None else None
        base = case.active_seconds if name is None else case.structures[name].active_seconds
        if now is not None and not self._closed:
            g = self._clock.open_gap
            target = cast("tuple[int, str, str] | None", g.target) if g is not None else None
            if target is not None and target[:2] == (rec.step, case.patient) and (name is None or target[2] == name):
                base += self._clock.running(t)
        return base

    def set_uncertainty_shown(self, shown: bool, now: Now = None) -> None:
        """The UI shows (or hides) the uncertainty map: logged, and the time after it counts as seen with it.

        Only meaningful in a step whose rules allow the map; elsewhere the map is never shown.
        """
        self._check_open()
        t = event_time(now)
        with self._event("layer", t, commit=None, layer="uncertainty", visible=bool(shown)):
            self._uncertainty_shown = bool(shown)

    # -- structures and ratings ------------------------------------------------------------------------
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
        t = event_time(now)
        with self._event("structure", t, selected=structure):
            _rec, case = self._input(t)
            self._activate(case, self._structure(case, structure), t)
        self._flush_emits()

    def _activate(self, case: CaseRecord, name: str, t: float) -> None:
        if case.active_structure != name:
            case.active_structure = name
            self._emit_later("structure", structure=name)
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
        begun (:class:`RatingFrozen`); text answers may change until the case is finished.
        """
        try:
            q = self.study.question(question)
        except KeyError as e:
            raise StudyError(str(e.args[0])) from None
        try:
            v = q.validate(value)
        except ValueError as e:
            raise StudyError(str(e)) from None
        t = event_time(now)
        with self._event("rate", t, question=q.id, value=v if q.kind == "likert" else None) as ev:
            _rec, case = self._input(t)
            name = self._structure(case, structure)
            ev["rated"] = name
            srec = case.structures[name]
            if q.freezes_on_edit and srec.editing_started_at:
                raise RatingFrozen(f"{q.id} of {name} was fixed when editing began at {srec.editing_started_at}")
            self._activate(case, name, t)
            old = srec.ratings.get(q.id)
            if old is not None:
                srec.rating_history.append(
                    {"question": q.id, "value": old.value, "at": old.at, "replaced_at": iso_utc(t)}
                )
            answer = Answer(v, iso_utc(t))
            srec.ratings[q.id] = answer
            self._emit_later("ratings", structure=name, question=q.id)
        self._flush_emits()
        return answer

    # -- blinding --------------------------------------------------------------------------------------
    def visibility(self, now: Now = None) -> Visibility:
        """The blinding rules of the current step (of the next step while waiting, of the last when done)."""
        cur = self._current(to_epoch(now))
        k = cur[0].step if cur is not None else (self._waiting_step() or self.study.steps[-1].step)
        vis = self._visibility.get(k)
        if vis is None:  # the rules of a step never change: built once (resolving the output folder is not free)
            rules = self.study.rules_for(self.observer, k)  # the design's arm of this observer's step
            vis = Visibility.for_step(rules, self.observer, self.study.start_source, output_root(self.study_dir))
            self._visibility[k] = vis
        return vis

    def hidden_sources(self, now: Now = None) -> set[str]:
        """The current patient's sources that must be hidden (for ``ViewerState.hidden_sources``)."""
        return self.visibility(now).hidden_sources(self.patient(now).sources())

    def can_open(self, source: str, path: str | Path | None = None, now: Now = None) -> bool:
        """Whether a layer may be opened now (call before opening any layer)."""
        return self.visibility(now).can_open(source, path)

    # -- read-only views -------------------------------------------------------------------------------
    @property
    def state(self) -> SessionState:
        """The stored state (read it, do not change it: every change goes through the methods)."""
        return self._state


def _resolved(p: str | Path) -> Path:
    try:
        return Path(p).resolve()
    except OSError:
        return Path(p).absolute()
