"""``results.csv``: one row per observer x step x patient x structure.

Rows cover the whole design, finished or not; an empty ``finished_at`` marks a case that is not
finished (its ratings and time may still change). ``active_seconds`` is the structure's active
time; ``started_at`` is when the structure was first active in the case and ``finished_at`` when
the case was finished. ``output_file`` is relative to the study folder.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

from ..io.csv_files import csv_text, write_csv
from ..io.guard import Protected, check_output_file
from .definition import StudyDefinition, load_study
from .files import RESULTS_FILE, session_file
from .randomise import case_plan
from .state import FINISHED, CaseRecord, SessionState, StructureRecord, load_state

logger = logging.getLogger(__name__)

RESULT_COLUMNS = (
    "observer",
    "step",
    "patient",
    "pseudonym",
    "structure",
    "quality",
    "confidence",
    "comment",
    "active_seconds",
    "started_at",
    "finished_at",
    "start_mask",
    "output_file",
    "output_sha256",
    "voxels_added",
    "voxels_removed",
)


def load_states(study_dir: Path, study: StudyDefinition) -> dict[str, SessionState | None]:
    """Every observer's stored state (None for an observer who has not started), read without locking.

    Session files are replaced atomically, so a read never sees half a state.
    """
    return {o: load_state(session_file(study_dir, o)) for o in study.observers}


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
                for structure in study.structures:
                    srec = case.structures.get(structure) if case is not None else None
                    started = case is not None and case.status != "pending"
                    yield {
                        "observer": observer,
                        "step": str(k),
                        "patient": patient,
                        "pseudonym": names[patient],
                        "structure": structure,
                        "quality": _rating(srec, "quality"),
                        "confidence": _rating(srec, "confidence"),
                        "comment": _rating(srec, "comment"),
                        "active_seconds": f"{srec.active_seconds:.1f}" if srec is not None and started else "",
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


def results_csv_bytes(rows: list[dict[str, str]]) -> bytes:
    """The CSV text (UTF-8, header first, ``\\n`` line ends; formula-like text made safe, see
    :mod:`lundprobe_gui.io.csv_files`)."""
    return csv_text(rows, RESULT_COLUMNS).encode("utf-8")


def write_results(study_dir: str | Path, path: str | Path | None = None) -> Path:
    """Write ``results.csv`` atomically (default ``<study>/results.csv``) and return its path."""
    study_dir = Path(study_dir)
    study = load_study(study_dir)
    rows = list(iter_rows(study, load_states(study_dir, study)))
    out = Path(path) if path is not None else study_dir / RESULTS_FILE
    root = Path(study.dataset_root)
    check_output_file(out, Protected.of([root / p for p in study.patients], [root]))
    write_csv(out, rows, RESULT_COLUMNS)
    logger.info("wrote %s (%d rows)", out, len(rows))
    return out
