"""The case work of an observer's session: the patient, editing, saving and finishing (a mixin of ObserverSession).

Saving and finishing are split into the bookkeeping, done at once in the caller's thread, and
the writing of masks, handed to the session's writer: in the window it runs on the writer's
thread while the next case loads. A finished case whose masks are still being written is
stored as still in progress until they are recorded, so the session file never holds a
finished case without its edits.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.mask import Mask
from ..core.patient import Patient
from ..io.open import NoImageError, open_patient
from ..session.clock import Now, event_time, iso_utc, to_epoch
from .audit import append_audit
from .errors import CaseLocked, RatingsIncomplete, StudyError
from .files import output_root
from .outputs import as_mask, load_saved, record_saved, register_saved, write_structure
from .questions import missing_answers
from .state import FINISHED, CaseRecord, StepRecord, StructureRecord
from .views import CaseView, SavedEdit
from .visibility import hide_published_own_edits

if TYPE_CHECKING:
    from .session import ObserverSession

# The methods below are ObserverSession's, kept in a mixin so each module stays small: they annotate
# ``self`` as ObserverSession, which mypy flags as a self type that is not a supertype of the mixin.

logger = logging.getLogger(__name__)


class CaseWork:
    """Patient, masks, editing, saving and finishing of :class:`~lundprobe_gui.study.session.ObserverSession`."""

    def _init_work(self: ObserverSession) -> None:  # type: ignore[misc]  # mixin: self is its ObserverSession
        self._patient: Patient | None = None
        self._patient_case: tuple | None = None
        self._finishing: dict[int, set[str]] = {}
        self._completing: set[int] = set()

    # -- the patient -----------------------------------------------------------------------------------
    def patient_path(self: ObserverSession, now: Now = None) -> Path:  # type: ignore[misc]  # mixin: self is its ObserverSession
        """Folder of the current case's patient, for loading only: never show it to the observer."""
        _, case = self._require_current(to_epoch(now))
        return self.study.patient_dir(case.patient, self.dataset_root)

    def patient(self: ObserverSession, now: Now = None) -> Patient:  # type: ignore[misc]  # mixin: self is its ObserverSession
        """The current case's patient (opened once per case, headers only; pixels load on demand).

        Published edits that carry this observer's own source name are removed from the model,
        and the study's saved edits are put in their place. From a copy of the dataset, the
        case's files are checked against their recorded hashes first.
        """
        _, case = self._require_current(to_epoch(now))
        # one model per case: a model reused across steps would still hold the other step's saved edits
        case_key = (self._step_of(case), case.patient, case.pseudonym)
        if self._patient is None or self._patient_case != case_key:
            if self.dataset_copy:
                self.verify_case_files(now)
            path = self.study.patient_dir(case.patient, self.dataset_root)
            try:
                p = open_patient(path, edits=False)
            except NoImageError as e:
                raise StudyError(f"{case.pseudonym} cannot be opened: {e}") from e
            self._prepare_patient(p, case)
            self._patient = p
            self._patient_case = case_key
        return self._patient

    def verify_case_files(self: ObserverSession, now: Now = None) -> None:  # type: ignore[misc]  # mixin: self is its ObserverSession
        """Check the current case's files against the hashes recorded at ``study init`` (any thread).

        Raises
        ------
        StudyError
            Naming the case (never the patient) and the file that is missing or differs.
        """
        _, case = self._require_current(to_epoch(now))
        problem = check_patient_files(self.study, case.patient, self.dataset_root, full=True)
        if problem:
            raise StudyError(f"{case.pseudonym} in {self.dataset_root}: {problem}; this is not the study's dataset")

    def attach_patient(self: ObserverSession, patient: Patient, now: Now = None) -> None:  # type: ignore[misc]  # mixin: self is its ObserverSession
        """Use a patient the UI opened itself (e.g. in its background loader) for the current case.

        From a copy of the dataset, call :meth:`verify_case_files` before (in the loader's thread).
        """
        _, case = self._require_current(to_epoch(now))
        if patient.id != case.patient:
            raise StudyError("the patient given is not the current case's patient")
        self._prepare_patient(patient, case)
        self._patient = patient
        self._patient_case = (self._step_of(case), case.patient, case.pseudonym)

    def _prepare_patient(self: ObserverSession, patient: Patient, case: CaseRecord) -> None:  # type: ignore[misc]  # mixin: self is its ObserverSession
        if self.study.frame not in patient.frames:
            raise StudyError(f"{case.pseudonym} has no {self.study.frame} frame")
        hide_published_own_edits(patient, self.observer, self.study.frame, output_root(self.study_dir))
        # only the current step's saved edits go in: the other steps' stay out of the model
        register_saved(patient, self.study_dir, self.study, self.observer, self._step_of(case), case, self.study.frame)

    def _step_of(self: ObserverSession, case: CaseRecord) -> int:  # type: ignore[misc]  # mixin: self is its ObserverSession
        for k, rec in self._state.steps.items():
            if any(c is case for c in rec.cases):
                return k
        raise KeyError(case.pseudonym)

    def start_mask(self: ObserverSession, structure: str | None = None, now: Now = None) -> Mask:  # type: ignore[misc]  # mixin: self is its ObserverSession
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

    def working_mask(self: ObserverSession, structure: str | None = None, now: Now = None) -> Mask:  # type: ignore[misc]  # mixin: self is its ObserverSession
        """The structure's latest saved edit in this case, or a copy of its start mask."""
        _, case = self._require_current(to_epoch(now))
        name = self._structure(case, structure)
        srec = case.structures[name]
        if srec.output_version:
            return load_saved(self.study_dir, srec.output_version)
        return self.start_mask(name, now)

    @property
    def target_source(self: ObserverSession) -> str:  # type: ignore[misc]  # mixin: self is its ObserverSession
        """The source the current step's edits are saved as: ``step<k>_<observer>``."""
        k = self._waiting_step() or self.study.steps[-1].step
        return self.study.target_source(k, self.observer)

    # -- editing and saving ----------------------------------------------------------------------------
    def _editable(self: ObserverSession, structure: str | None, t: float):  # type: ignore[misc]  # mixin: self is its ObserverSession
        """(record, case, name, structure record) of a structure that may be edited now, made active.

        Call inside an event. Raises RatingsIncomplete when a required rating is missing: edits come
        after the ratings.
        """
        rec, case = self._input(t)
        name = self._structure(case, structure)
        missing = missing_answers(self.study.questions, case.structures[name].ratings)
        if missing:
            raise RatingsIncomplete(name, missing)
        self._activate(case, name, t)
        return rec, case, name, case.structures[name]

    def begin_editing(self: ObserverSession, structure: str | None = None, now: Now = None) -> Mask:  # type: ignore[misc]  # mixin: self is its ObserverSession
        """Start editing a structure; returns the mask to edit (a copy of the working mask).

        Raises
        ------
        RatingsIncomplete
            When a required rating of the structure is missing.
        """
        t = event_time(now)
        with self._event("edit_begin", t) as ev:
            _rec, _case, name, srec = self._editable(structure, t)
            ev["editing"] = name
            if srec.editing_started_at is None:
                srec.editing_started_at = iso_utc(t)
                self._emit_later("editing", structure=name)
        return self.working_mask(name, t)

    def save_edit(  # type: ignore[misc]  # mixin: self is its ObserverSession
        self: ObserverSession,
        mask: Mask | np.ndarray,
        structure: str | None = None,
        now: Now = None,
        tool: str | None = None,
    ) -> SavedEdit:
        """Save the edited mask of a structure as a new version in the study's output folder.

        Returns once the version and the state are written (in background mode too: it waits).

        Raises
        ------
        RatingsIncomplete
            When a required rating is missing (edits come after the ratings).
        """
        box: dict = {}
        self.submit_edit(mask, structure, now, tool, on_saved=lambda saved: box.setdefault("saved", saved))
        if self.background:
            self.flush()
        if "saved" not in box:
            raise StudyError(f"the edit was not saved: {self.save_failure or 'unknown reason'}")
        return box["saved"]

    def submit_edit(  # type: ignore[misc]  # mixin: self is its ObserverSession
        self: ObserverSession,
        mask: Mask | np.ndarray,
        structure: str | None = None,
        now: Now = None,
        tool: str | None = None,
        on_saved: Callable[[SavedEdit], None] | None = None,
    ) -> None:
        """Save an edit as :meth:`save_edit` does, without waiting in background mode.

        ``mask`` must not change afterwards (hand over a copy). ``on_saved(SavedEdit)`` is called
        in the caller's thread once the version is written and recorded; a failure is reported
        through ``write_failed`` and the save is tried again with the next change.
        """
        t = event_time(now)
        with self._event("save", t, tool=tool) as ev:
            rec, case, name, srec = self._editable(structure, t)
            ev["saved"] = name
            if case.status == FINISHED or case.patient in self._finishing.get(rec.step, ()):
                raise CaseLocked(f"{case.pseudonym} is finished and locked")
            srec.editing_started_at = srec.editing_started_at or iso_utc(t)
            patient = self.patient(t)
            m = as_mask(mask, patient.frames[self.study.frame].geometry.shape_zyx, self.study.frame)
            job = functools.partial(
                self._save_job,
                rec.step,
                case,
                patient,
                name,
                m,
                self.start_mask(name, t),
                t,
                tool or "lundprobe_gui study",
            )

            def done(saved: SavedEdit) -> None:
                emit = self._emit_later if not self.background else self.changed.emit
                emit("edit_saved", structure=name, version=saved.version_file.name)
                if on_saved is not None:
                    on_saved(saved)

            self.submit_write(job, on_done=done)

    def _save_job(  # type: ignore[misc]  # mixin: self is its ObserverSession
        self: ObserverSession,
        step: int,
        case: CaseRecord,
        patient: Patient,
        name: str,
        mask: Mask,
        start: Mask,
        t: float,
        tool: str,
    ) -> SavedEdit:
        # the patient is the one of the case when the save was asked for: by the time this runs in
        # the background the window may have moved on to the next case
        saved = write_structure(
            self.study_dir, self.study, self.observer, step, patient, case.pseudonym, name, mask, start, tool
        )
        with self.mutex:
            record_saved(self.study_dir, case, saved, t)
        return saved

    # -- finishing -------------------------------------------------------------------------------------
    def finish_case(  # type: ignore[misc]  # mixin: self is its ObserverSession
        self: ObserverSession, now: Now = None, masks: Mapping[str, Mask | np.ndarray] | None = None
    ) -> CaseView:
        """Finish the current case: save the given (or unchanged) masks, lock the case, move on.

        Parameters
        ----------
        now : datetime or float, optional
            Event time.
        masks : mapping, optional
            Final masks by structure, saved before finishing (hand over copies). A structure never
            saved and not in ``masks`` is saved unchanged (the observer accepted the start mask).

        Returns
        -------
        CaseView
            The case just finished. In background mode the masks are still being written when
            it returns; the next case is current at once.

        Raises
        ------
        RatingsIncomplete
            When a structure still lacks a required rating; nothing is saved then.
        """
        t = event_time(now)
        marked = False
        try:
            with self._event("finish", t) as ev:
                rec, case = self._input(t)
                ev["finished"] = case.pseudonym
                for name in case.structures:
                    missing = missing_answers(self.study.questions, case.structures[name].ratings)
                    if missing:
                        raise RatingsIncomplete(name, missing)
                if case.patient in self._finishing.get(rec.step, ()):
                    raise CaseLocked(f"{case.pseudonym} is being finished")
                patient = self.patient(t)
                shape = patient.frames[self.study.frame].geometry.shape_zyx
                plan = [
                    (
                        name,
                        as_mask(masks[name], shape, self.study.frame) if masks and name in masks else None,
                        self.start_mask(name, t),
                    )
                    for name in case.structures
                ]
                step_done = self._mark_finished(rec, case, t)
                marked = True
                if step_done and self.study.step_questions:
                    ev["pause"] = True  # the end-of-step questionnaire comes next: its time is no case's
                view = self._view(rec, case, FINISHED)
                nxt = self._current(t)
                if nxt is not None:
                    self._start_if_pending(*nxt, t)
                self._emit_later("case_finished", step=rec.step, pseudonym=case.pseudonym)
                if step_done:
                    self._emit_later("step_completed", step=rec.step)
                if nxt is not None:
                    self._emit_later("case", step=nxt[0].step, pseudonym=nxt[1].pseudonym)
                self.submit_write(functools.partial(self._finish_job, rec.step, case, patient, plan, t, step_done))
        except BaseException:
            if marked and not self.background:
                self._take_back()  # a mask that could not be written: the case is not finished
            raise
        return view

    def _mark_finished(self: ObserverSession, rec: StepRecord, case: CaseRecord, t: float) -> bool:  # type: ignore[misc]  # mixin: self is its ObserverSession
        """The case becomes finished in memory (written once its masks are recorded); True if the step is done."""
        self._finishing.setdefault(rec.step, set()).add(case.patient)
        case.status = FINISHED
        case.finished_at = iso_utc(t)
        step_done = rec.finished() and rec.completed_at is None
        if step_done:
            rec.completed_at = iso_utc(t)
            self._completing.add(rec.step)
        return step_done

    def _finish_job(  # type: ignore[misc]  # mixin: self is its ObserverSession
        self: ObserverSession,
        step: int,
        case: CaseRecord,
        patient: Patient,
        plan: list[tuple[str, Mask | None, Mask]],
        t: float,
        step_done: bool,
    ) -> list[SavedEdit]:
        """Write the case's masks (the edited ones, and unsaved structures unchanged), then record the finish.

        ``patient`` is the finished case's (the window has usually moved on to the next case by now).
        """
        out = []
        for name, mask, start in plan:
            srec: StructureRecord = case.structures[name]
            if mask is None and srec.output_version is not None:
                continue  # saved before (an edit, or an earlier try of this finish)
            tool = "lundprobe_gui study" if mask is not None else "accepted unchanged"
            saved = write_structure(
                self.study_dir,
                self.study,
                self.observer,
                step,
                patient,
                case.pseudonym,
                name,
                mask if mask is not None else start,
                start,
                tool,
            )
            with self.mutex:
                record_saved(self.study_dir, case, saved, t)
                srec.editing_started_at = srec.editing_started_at or (iso_utc(t) if mask is not None else None)
            out.append(saved)
        with self.mutex:
            self._finishing.get(step, set()).discard(case.patient)
            self._completing.discard(step)
        append_audit(
            self.study_dir,
            "case_finished",
            now=t,
            observer=self.observer,
            step=step,
            pseudonym=case.pseudonym,
            patient=case.patient,
            active_seconds=round(case.active_seconds, 1),
        )
        if step_done:
            append_audit(self.study_dir, "step_completed", now=t, observer=self.observer, step=step)
        return out


def check_patient_files(study, patient: str, root: Path, full: bool = True) -> str | None:
    """Why a patient folder under ``root`` is not the one ``study init`` recorded, or None when it is.

    Sizes are compared first; with ``full`` the sha256 of every recorded file too.
    """
    files = study.patient_files.get(patient)
    if not files:
        return None
    folder = Path(root) / patient
    for rel, info in sorted(files.items()):
        path = folder / rel
        try:
            size = path.stat().st_size
        except OSError:
            return f"{rel} is missing"
        if size != info.get("size"):
            return f"{rel} differs from the recorded file (size)"
        if full:
            h = hashlib.sha256()
            try:
                with open(path, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        h.update(block)
            except OSError as e:
                return f"{rel} cannot be read ({e.strerror or e})"
            if h.hexdigest() != info.get("sha256"):
                return f"{rel} differs from the recorded file (sha256)"
    return None
