"""``results.csv``: one row per observer x step x patient x structure.

``step`` is the session order and ``arm`` what the observer was shown in it (the design's arm of
that observer and step, recorded as the study defined it).

Rows cover the whole design, finished or not; an empty ``finished_at`` marks a case that is not
finished (its ratings and time may still change). ``active_seconds`` is the structure's active
time and ``uncertainty_visible_seconds`` the part of it with the uncertainty map on screen;
``uncertainty_available`` says whether the patient has the structure's map at all. ``started_at``
is when the structure was first active in the case and ``finished_at`` when the case was
finished. ``output_file`` is relative to the study folder. ``unlocks`` counts the admin unlocks
of the case; ``reopened_after_step`` is the latest later step the observer had started when the
case was reopened (empty when it was never reopened after a later step began). Questions beyond
the standard three add one column each after ``comment``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from ..io.csv_files import csv_text, write_csv
from ..io.guard import Protected, check_output_file
from .definition import StudyDefinition, load_study
from .errors import StudyError
from .files import RESULTS_FILE, session_file
from .questions import KEY_COLUMNS, QUESTION_IDS, VALUE_COLUMNS
from .randomise import case_plan
from .state import FINISHED, CaseRecord, SessionState, StructureRecord, load_state
from .validate import validate_state

logger = logging.getLogger(__name__)

RESULT_COLUMNS = KEY_COLUMNS + QUESTION_IDS + VALUE_COLUMNS
"""The columns of every study; questions beyond the standard three come right after ``comment``."""


def result_columns(study: StudyDefinition) -> tuple[str, ...]:
    """The columns of this study's ``results.csv``."""
    extra = tuple(q.id for q in study.questions if q.id not in QUESTION_IDS)
    i = RESULT_COLUMNS.index("comment") + 1
    return RESULT_COLUMNS[:i] + extra + RESULT_COLUMNS[i:]


def load_states(
    study_dir: Path, study: StudyDefinition, damaged: dict[str, str] | None = None
) -> dict[str, SessionState | None]:
    """Every observer's stored state (None for an observer who has not started), read without locking.

    Session files are replaced atomically, so a read never sees half a state. Each is checked
    against the study; a damaged one raises :class:`CorruptStudyFile`, or, given a ``damaged``
    dict, is reported there (observer to reason) and left out as None.
    """
    out: dict[str, SessionState | None] = {}
    for o in study.observers:
        path = session_file(study_dir, o)
        try:
            state = load_state(path)
            if state is not None:
                validate_state(study, state, o, path)
        except StudyError as e:
            if damaged is None:
                raise
            damaged[o] = str(e)
            state = None
        out[o] = state
    return out


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def _rating(srec: StructureRecord | None, qid: str) -> str:
    if srec is None or qid not in srec.ratings:
        return ""
    return _cell(srec.ratings[qid].value)


def iter_rows(study: StudyDefinition, states: dict[str, SessionState | None]) -> Iterator[dict[str, str]]:
    """The rows of ``results.csv`` in observer, step, patient (study order), structure order."""
    for observer in study.observers:
        state = states.get(observer)
        for rules in study.steps:
            k = rules.step
            if state is not None:
                cases: dict[str, CaseRecord | None] = {c.patient: c for c in state.steps[k].cases}
                names = {c.patient: c.pseudonym for c in state.steps[k].cases}
            else:
                cases = {}
                names = {s.patient: s.pseudonym for s in case_plan(study.patients, study.seed, observer, k)}
            for patient in study.patients:
                case = cases.get(patient)
                unlocks = case.unlocks if case is not None else []
                after = [int(u["after_step"]) for u in unlocks if u.get("after_step")]
                for structure in study.structures:
                    srec = case.structures.get(structure) if case is not None else None
                    started = case is not None and case.status != "pending"
                    row = {
                        "observer": observer,
                        "step": str(k),
                        "arm": study.arm_of(observer, k),
                        "patient": patient,
                        "pseudonym": names[patient],
                        "structure": structure,
                        **{q.id: _rating(srec, q.id) for q in study.questions},
                        "quality": _rating(srec, "quality"),
                        "confidence": _rating(srec, "confidence"),
                        "comment": _rating(srec, "comment"),
                        "active_seconds": f"{srec.active_seconds:.1f}" if srec is not None and started else "",
                        "uncertainty_visible_seconds": (
                            f"{srec.uncertainty_visible_seconds:.1f}" if srec is not None and started else ""
                        ),
                        "uncertainty_available": "1" if study.uncertainty_available(patient, structure) else "0",
                        "unlocks": str(len(unlocks)),
                        "reopened_after_step": str(max(after)) if after else "",
                        "started_at": _cell(srec.started_at if srec else None),
                        "finished_at": _cell(
                            case.finished_at if case is not None and case.status == FINISHED else None
                        ),
                        "start_mask": study.start_source,
                        "output_file": _cell(srec.output_file if srec else None),
                        "output_sha256": _cell(srec.output_sha256 if srec else None),
                        "voxels_added": _cell(srec.voxels_added if srec else None),
                        "voxels_removed": _cell(srec.voxels_removed if srec else None),
                    }
                    yield row


def results_csv_bytes(rows: list[dict[str, str]], columns: tuple[str, ...] = RESULT_COLUMNS) -> bytes:
    """The CSV text (UTF-8, header first, ``\\n`` line ends; formula-like text made safe, see
    :mod:`lundprobe_gui.io.csv_files`)."""
    return csv_text(rows, columns).encode("utf-8")


def write_results(study_dir: str | Path, path: str | Path | None = None) -> Path:
    """Write ``results.csv`` atomically (default ``<study>/results.csv``) and return its path."""
    study_dir = Path(study_dir)
    study = load_study(study_dir)
    rows = list(iter_rows(study, load_states(study_dir, study)))
    out = Path(path) if path is not None else study_dir / RESULTS_FILE
    root = study.dataset_path(study_dir)
    check_output_file(out, Protected.of([root / p for p in study.patients], [root]))
    write_csv(out, rows, result_columns(study))
    logger.info("wrote %s (%d rows)", out, len(rows))
    return out
