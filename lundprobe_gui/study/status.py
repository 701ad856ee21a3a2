"""``study status``: per observer and step, the cases finished (and so locked), in progress and pending.

It also runs the study's checks (:mod:`.integrity`): a changed ``study.json`` is refused
(:class:`DefinitionChanged`, the command exits with code 2); a session file that is damaged or
was changed outside the app, and a clock that moved backwards or far ahead, are flagged.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .clock import Now, iso_utc, to_epoch
from .definition import StudyDefinition, load_study
from .errors import CorruptStudyFile, DefinitionChanged, SessionLocked
from .files import lock_file
from .integrity import IntegrityReport, check_study
from .locking import is_stale, read_lock
from .results import load_states
from .schedule import ALWAYS, step_opens_at
from .state import FINISHED, IN_PROGRESS, SessionState

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepSummary:
    """One observer's step.

    ``state`` is ``not started`` (no session yet), ``open``, ``locked`` (``locked_reason`` says
    why: previous step unfinished, or washout until ``opens_at``) or ``done``. ``arm`` is what the
    step shows this observer; ``questionnaire`` is ``due`` or ``answered`` when the study asks an
    end-of-step questionnaire (else empty).
    """

    observer: str
    step: int
    total: int
    finished: int
    in_progress: int
    pending: int
    state: str
    locked_reason: str
    opens_at: str | None
    washout_overridden: bool
    unlocks: int
    active_seconds: float
    session: str
    arm: str = ""
    questionnaire: str = ""

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def _session_text(study_dir: Path, observer: str) -> str:
    try:
        info = read_lock(lock_file(study_dir, observer))
    except SessionLocked:
        return "lock file unreadable"
    if info is None:
        return ""
    return ("stale lock: " if is_stale(info) else "open: ") + info.describe()


def _step_summary(
    study: StudyDefinition, observer: str, state: SessionState | None, k: int, t: float, session: str
) -> StepSummary:
    if state is None:
        n = len(study.patients)
        return StepSummary(
            observer,
            k,
            n,
            0,
            0,
            n,
            "not started",
            "" if k == 1 else f"step {k - 1} unfinished",
            None,
            False,
            0,
            0.0,
            session,
        )
    rec = state.steps[k]
    fin = sum(c.status == FINISHED for c in rec.cases)
    prog = sum(c.status == IN_PROGRESS for c in rec.cases)
    opens = step_opens_at(study, state, k)
    reason, opens_at = "", None
    if rec.finished():
        st = "done"
    elif opens is None:
        st, reason = "locked", f"step {k - 1} unfinished"
    elif opens != ALWAYS and t < opens:
        st, reason, opens_at = "locked", "washout", iso_utc(opens)
    else:
        st = "open"
    return StepSummary(
        observer,
        k,
        len(rec.cases),
        fin,
        prog,
        len(rec.cases) - fin - prog,
        st,
        reason,
        opens_at,
        bool(rec.washout_override),
        sum(len(c.unlocks) for c in rec.cases),
        round(sum(c.active_seconds for c in rec.cases), 1),
        session,
    )


def study_status(study_dir: str | Path, now: Now = None) -> tuple[StudyDefinition, list[StepSummary]]:
    """The study and one summary per observer and step (read-only; takes no lock).

    Raises
    ------
    DefinitionChanged
        When ``study.json`` is not the sealed definition.
    CorruptStudyFile
        When a session file is damaged or was changed outside the app (:func:`study_report` reports
        the others all the same).
    """
    study, rows, check = study_report(study_dir, now)
    if check.problems:
        raise CorruptStudyFile("the study's files fail their checks: " + "; ".join(check.problems))
    return study, rows


def study_report(study_dir: str | Path, now: Now = None) -> tuple[StudyDefinition, list[StepSummary], IntegrityReport]:
    """:func:`study_status` with the checks of the study (seal, session files, clock)."""
    study_dir = Path(study_dir)
    study = load_study(study_dir)
    check = check_study(study_dir, study)
    if not check.seal.ok:
        raise DefinitionChanged(check.seal.message(study_dir))
    t = to_epoch(now)
    states = load_states(study_dir, study, check.damaged)
    out = []
    for o in study.observers:
        session = _session_text(study_dir, o)
        for s in study.steps:
            row = _step_summary(study, o, states[o], s.step, t, session)
            state = states[o]
            rec = state.steps[s.step] if state is not None else None
            asked = ""
            if study.step_questions and rec is not None and rec.finished():
                asked = "answered" if rec.questionnaire_at else "due"
            out.append(replace(row, arm=study.arm_of(o, s.step), questionnaire=asked))
    return study, out, check


def format_status(
    study_dir: Path, study: StudyDefinition, rows: list[StepSummary], check: IntegrityReport | None = None
) -> str:
    """Readable table of :func:`study_status` (with the checks when given)."""
    rule = study.idle_rule
    lines = [
        f"Study {study_dir}" + (f" ({study.name})" if study.name else ""),
        f"  {len(study.patients)} patients, structures {', '.join(study.structures)}, "
        f"washout {study.washout_days:g} days, preset {study.preset}, seed {study.seed}",
        f"  active time: gaps up to {rule.idle_s:g} s count, longer ones {rule.tail_s:g} s",
        f"  {study.design} design, arms " + ", ".join(s.arm for s in study.arms),
    ]
    if check is not None:
        seal = check.seal
        lines.append(
            f"  definition sha256 {seal.actual[:16]}..., "
            + (f"sealed {seal.sealed_at}" if seal.sealed else "not sealed yet (the first admin command seals it)")
        )
    lines += [
        "",
        f"  {'observer':<12} {'step':>4} {'arm':<18} {'finished':>9} {'in progress':>11} {'pending':>7} "
        f"{'active min':>10}  state",
    ]
    for r in rows:
        state = r.state
        if r.state == "locked":
            state += f" ({r.locked_reason}" + (f" until {r.opens_at}" if r.opens_at else "") + ")"
        if r.washout_overridden:
            state += ", washout overridden"
        if r.unlocks:
            state += f", {r.unlocks} unlock(s)"
        if r.questionnaire:
            state += f", questionnaire {r.questionnaire}"
        lines.append(
            f"  {r.observer:<12} {r.step:>4} {r.arm:<18} {r.finished:>4}/{r.total:<4} {r.in_progress:>11} "
            f"{r.pending:>7} {r.active_seconds / 60:>10.1f}  {state}"
        )
    sessions = {r.observer: r.session for r in rows if r.session}
    if sessions:
        lines.append("")
        lines += [f"  session {o}: {s}" for o, s in sessions.items()]
    if check is not None and (check.problems or check.clock):
        lines.append("")
        lines += [f"  PROBLEM: {p}" for p in check.problems]
        lines += [f"  clock warning: {w}" for w in check.clock]
    lines.append("")
    lines.append("  Finished cases are locked; an admin can reopen one with 'study unlock'.")
    return "\n".join(lines)
