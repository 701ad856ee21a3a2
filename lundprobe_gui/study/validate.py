"""Checks of a loaded session state against the study: a hand-edited file is refused as damaged.

:func:`validate_state` runs whenever a state is read (the observer's session, status, export).
It refuses what the app never writes: an answer that is not on its question's scale or to a
question the study does not ask, a time that is not a time or lies outside the study's life, a
case finished without its saved edits, a case in progress without a start, a step completed
before its cases started, a finished case back in progress without an unlock record. The
hash chain (:mod:`.chain`) catches the edits that stay within these rules.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from ..session.clock import MAX_SKEW_S, injected_clock, parse_iso, wall_time
from .definition import StudyDefinition
from .errors import CorruptStudyFile
from .randomise import case_plan
from .state import FINISHED, IN_PROGRESS, PENDING, CaseRecord, SessionState, StepRecord

logger = logging.getLogger(__name__)


class _Invalid(ValueError):
    pass


def validate_state(study: StudyDefinition, state: SessionState, observer: str, path: Path | str) -> None:
    """Refuse a state that the app cannot have written for this study and observer.

    Raises
    ------
    CorruptStudyFile
        Naming the first problem; the file is left untouched.
    """
    try:
        _check_design(study, state, observer)
        # replayed test times may precede a study created at the real time: bounds only for the real clock
        lo = -math.inf if injected_clock() else parse_iso(study.created_at) - MAX_SKEW_S
        hi = math.inf if injected_clock() else wall_time() + MAX_SKEW_S
        _check_time(state.created_at, "created_at", lo, hi)
        for _k, rec in sorted(state.steps.items()):
            _check_step(study, rec, lo, hi)
    except _Invalid as e:
        raise CorruptStudyFile(
            f"{path}: damaged session file ({e}); it was left untouched. If the file was changed on purpose, "
            "the administrator can accept it: lundprobe-gui study reseal STUDY_DIR --observer ID --admin"
        ) from None


def _check_design(study: StudyDefinition, state: SessionState, observer: str) -> None:
    if state.observer != observer:
        raise _Invalid(f"it belongs to observer {state.observer!r}")
    if sorted(state.steps) != [s.step for s in study.steps]:
        raise _Invalid("its steps differ from study.json")
    for k, rec in state.steps.items():
        plan = case_plan(study.patients, study.seed, observer, k)
        if [(c.patient, c.pseudonym, c.position) for c in rec.cases] != [
            (p.patient, p.pseudonym, p.position) for p in plan
        ]:
            raise _Invalid(f"its step {k} case order differs from the one study.json gives (patients or seed changed)")
        if any(list(c.structures) != list(study.structures) for c in rec.cases):
            raise _Invalid(f"its step {k} structures differ from study.json")


def _check_time(value: str | None, what: str, lo: float, hi: float) -> float | None:
    if not value:
        return None
    try:
        t = parse_iso(value)
    except (TypeError, ValueError, OverflowError):
        raise _Invalid(f"{what} {str(value)[:40]!r} is not a time") from None
    if not lo <= t <= hi:
        raise _Invalid(f"{what} {value} lies outside the study's life (before study init, or in the future)")
    return t


def _check_step(study: StudyDefinition, rec: StepRecord, lo: float, hi: float) -> None:
    k = rec.step
    starts = []
    for case in rec.cases:
        starts.append(_check_case(study, k, case, lo, hi))
    open_cases = [c for c in rec.cases if c.status == IN_PROGRESS and not c.unlocks]
    if len(open_cases) > 1:  # the app works on one case at a time; another one is open only after an unlock
        raise _Invalid(
            f"step {k} has {', '.join(c.pseudonym for c in open_cases)} in progress together without an unlock record"
        )
    completed = _check_time(rec.completed_at, f"step {k} completed_at", lo, hi)
    if completed is not None:
        first_starts = [t for t in starts if t is not None]
        if not first_starts or completed < max(first_starts):
            raise _Invalid(f"step {k} is recorded as completed before its cases were started")
        for case in rec.cases:
            if case.status != FINISHED and not case.unlocks:
                raise _Invalid(f"step {k} is completed but {case.pseudonym} is {case.status} without an unlock record")
    elif rec.finished():
        raise _Invalid(f"every case of step {k} is finished but the step has no completion time")
    if rec.washout_override is not None:
        _check_time(rec.washout_override.get("at"), f"step {k} washout override", lo, hi)


def _check_case(study: StudyDefinition, k: int, case: CaseRecord, lo: float, hi: float) -> float | None:
    where = f"step {k} {case.pseudonym}"
    started = _check_time(case.started_at, f"{where} started_at", lo, hi)
    finished = _check_time(case.finished_at, f"{where} finished_at", lo, hi)
    if case.status == PENDING and (started is not None or finished is not None):
        raise _Invalid(f"{where} is pending but has a start or finish time")
    if case.status == IN_PROGRESS and (started is None or finished is not None):
        raise _Invalid(f"{where} is in progress without a start time, or with a finish time")
    if case.status == FINISHED:
        if started is None or finished is None or finished < started:
            raise _Invalid(f"{where} is finished without consistent start and finish times")
        missing = [n for n, s in case.structures.items() if not (s.output_version and s.output_sha256)]
        if missing:
            raise _Invalid(f"{where} is finished without saved edits of {', '.join(missing)}")
    for u in case.unlocks:
        _check_time(u.get("at"), f"{where} unlock time", lo, hi)
    if case.active_structure not in case.structures:
        raise _Invalid(f"{where}: active structure {case.active_structure!r} is not a study structure")
    for name, srec in case.structures.items():
        for value, what in ((srec.active_seconds, "active_seconds"), (srec.uncertainty_visible_seconds, "seconds")):
            if not (math.isfinite(value) and value >= 0):
                raise _Invalid(f"{where} {name}: {what} {value!r} is not a time span")
        if srec.uncertainty_visible_seconds > srec.active_seconds + 1e-6:
            raise _Invalid(f"{where} {name}: the uncertainty map was shown longer than the structure was worked on")
        for n in (srec.voxels_added, srec.voxels_removed):
            if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
                raise _Invalid(f"{where} {name}: voxel count {n!r} is not a count")
        if case.status == PENDING and (srec.ratings or srec.saves):
            raise _Invalid(f"{where} is pending but {name} has ratings or saves")
        for qid, answer in srec.ratings.items():
            _check_answer(study, where, name, qid, answer.value)
            _check_time(answer.at, f"{where} {name} {qid} time", lo, hi)
        for old in srec.rating_history:
            if not isinstance(old, dict):
                raise _Invalid(f"{where} {name}: a rating history entry is not an object")
            _check_answer(study, where, name, str(old.get("question")), old.get("value"))
        for t, what in ((srec.started_at, "started_at"), (srec.editing_started_at, "editing_started_at")):
            _check_time(t, f"{where} {name} {what}", lo, hi)
        _check_time(srec.saved_at, f"{where} {name} saved_at", lo, hi)
    return started


def _check_answer(study: StudyDefinition, where: str, name: str, qid: str, value: object) -> None:
    try:
        q = study.question(qid)
    except KeyError:
        raise _Invalid(f"{where} {name}: an answer to {qid!r}, which the study does not ask") from None
    try:
        normal = q.validate(value)
    except ValueError as e:
        raise _Invalid(f"{where} {name}: {e}") from None
    if normal != value:
        raise _Invalid(f"{where} {name}: the {qid} answer {value!r} is not stored as the app stores it")
