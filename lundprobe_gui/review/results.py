"""``review-results.csv``: one row per reviewed case, in the shape of the public AI-review dataset.

Columns, in order:

``case ID``, ``reviewer``,
``AI segmentation file``
    relative to the dataset root; several files (one binary mask per segment) are joined by ``;``.
``corrected segmentation file``
    relative to the review folder (``output/...``); empty when no segment was corrected.
``<segment> rating`` for every segment name of the review (empty where a case lacks it),
``segmentation comment``, ``findings comment``,
``active review time (s)``
    with one decimal.

Rows follow the case list. By default only finished cases are written. Text that a spreadsheet
would run as a formula is written with a leading apostrophe (:mod:`lundprobe_gui.io.csv_files`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..io.csv_files import csv_text, write_csv
from .protocol import RESULTS_FILE, CaseSpec, ReviewProtocol
from .state import DONE, CaseState, ReviewState

logger = logging.getLogger(__name__)

CASE_ID = "case ID"
REVIEWER = "reviewer"
AI_FILE = "AI segmentation file"
CORRECTED_FILE = "corrected segmentation file"
SEGMENTATION_COMMENT = "segmentation comment"
FINDINGS_COMMENT = "findings comment"
ACTIVE_TIME = "active review time (s)"
FILE_SEPARATOR = ";"


def rating_column(segment: str) -> str:
    """The column of a segment's rating."""
    return f"{segment} rating"


def columns(protocol: ReviewProtocol) -> list[str]:
    """The header row."""
    return [
        CASE_ID,
        REVIEWER,
        AI_FILE,
        CORRECTED_FILE,
        *(rating_column(s) for s in protocol.segment_names()),
        SEGMENTATION_COMMENT,
        FINDINGS_COMMENT,
        ACTIVE_TIME,
    ]


def corrected_files(case: CaseSpec, st: CaseState) -> list[str]:
    """Newest saved files of the corrected segments (one per AI file), in segment order."""
    out = []
    for seg in case.segments:
        if seg.name in st.corrected and seg.file in st.files:
            out.append(st.files[seg.file])
    return list(dict.fromkeys(out))


def row(protocol: ReviewProtocol, case: CaseSpec, st: CaseState) -> dict[str, str]:
    """One case's row."""
    r = {
        CASE_ID: case.case_id,
        REVIEWER: protocol.reviewer,
        AI_FILE: FILE_SEPARATOR.join(case.segmentation_files),
        CORRECTED_FILE: FILE_SEPARATOR.join(corrected_files(case, st)),
    }
    for name in protocol.segment_names():
        score = st.ratings.get(name)
        r[rating_column(name)] = "" if score is None else str(score)
    r[SEGMENTATION_COMMENT] = st.comments.get("segmentation", "")
    r[FINDINGS_COMMENT] = st.comments.get("findings", "")
    r[ACTIVE_TIME] = f"{st.active_seconds:.1f}"
    return r


def results_csv(protocol: ReviewProtocol, state: ReviewState, include_unfinished: bool = False) -> str:
    """The CSV text."""
    return csv_text(rows(protocol, state, include_unfinished), columns(protocol))


def rows(protocol: ReviewProtocol, state: ReviewState, include_unfinished: bool = False) -> list[dict[str, str]]:
    """The rows of the finished cases (of every case with ``include_unfinished``), in case-list order."""
    return [
        row(protocol, case, state.cases[case.case_id])
        for case in protocol.cases
        if state.cases[case.case_id].status == DONE or include_unfinished
    ]


def write_results(
    review_dir: str | Path,
    protocol: ReviewProtocol,
    state: ReviewState,
    path: str | Path | None = None,
    include_unfinished: bool = False,
) -> Path:
    """Atomically write the CSV (default ``<review>/review-results.csv``) and return its path."""
    out = Path(path) if path is not None else Path(review_dir) / RESULTS_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_csv(out, rows(protocol, state, include_unfinished), columns(protocol))
