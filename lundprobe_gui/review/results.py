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
from ..io.guard import check_output_file
from .protocol import RESULTS_FILE, CaseSpec, ReviewProtocol, protected_of
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
    check_output_file(out, protected_of(protocol))
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_csv(out, rows(protocol, state, include_unfinished), columns(protocol))


# -- the published collections' own scheme --------------------------------------------------------
QA_COLUMNS_HEAD = (
    "Collection",
    "PatientID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Validation",
    "Reviewer",
    "AISegmentation",
    "CorrectedSegmentation",
)
QA_COMMENT_ROIS = "Do you have any comments about the AI predicted ROIs?"
QA_COMMENT_FINDINGS = "Do you have any comments about the findings from the study scans?"
QA_RESULTS_FILE = "qa-results.csv"


def qa_rating_column(segment: str) -> str:
    """The 2024 collections' per-segment rating column."""
    return f"Was the AI predicted {segment} label accurate?"


def qa_columns(protocol: ReviewProtocol) -> list[str]:
    """The header row of ``qa-results.csv``."""
    return [
        *QA_COLUMNS_HEAD,
        *(qa_rating_column(s) for s in protocol.segment_names()),
        QA_COMMENT_ROIS,
        QA_COMMENT_FINDINGS,
    ]


def _identity(protocol: ReviewProtocol, case: CaseSpec) -> tuple[str, str, str]:
    """(PatientID, StudyInstanceUID, SeriesInstanceUID) of the series a case's AI segmentation references."""
    import pydicom

    try:
        ds = pydicom.dcmread(Path(protocol.dataset) / case.segmentation_files[0], stop_before_pixels=True)
    except Exception as e:  # noqa: BLE001 - a NIfTI case, or a file gone: the IDs stay empty
        logger.info("%s: no DICOM identity (%s)", case.case_id, e)
        return "", "", ""
    series = next((str(s.get("SeriesInstanceUID", "")) for s in ds.get("ReferencedSeriesSequence", []) or []), "")
    return str(ds.get("PatientID", "") or ""), str(ds.get("StudyInstanceUID", "") or ""), series


def qa_rows(
    protocol: ReviewProtocol, state: ReviewState, collection: str | None = None, include_unfinished: bool = False
) -> list[dict[str, str]]:
    """The results in the column scheme of the published ``qa-results.csv``, so they merge with it.

    ``Validation`` is ``true`` for a finished case; ``AISegmentation`` and ``CorrectedSegmentation``
    are file names (in ``ai-segmentations-dcm/`` and the review's ``qa-segmentations-dcm/``).
    """
    collection = collection or Path(protocol.dataset).name
    out = []
    for case in protocol.cases:
        st = state.cases[case.case_id]
        if st.status != DONE and not include_unfinished:
            continue
        pid, study, series = _identity(protocol, case)
        r = {
            "Collection": collection,
            "PatientID": pid,
            "StudyInstanceUID": study,
            "SeriesInstanceUID": series,
            "Validation": "true" if st.status == DONE else "false",
            "Reviewer": protocol.reviewer,
            "AISegmentation": FILE_SEPARATOR.join(Path(f).name for f in case.segmentation_files),
            "CorrectedSegmentation": FILE_SEPARATOR.join(Path(f).name for f in corrected_files(case, st)),
            QA_COMMENT_ROIS: st.comments.get("segmentation", ""),
            QA_COMMENT_FINDINGS: st.comments.get("findings", ""),
        }
        for name in protocol.segment_names():
            score = st.ratings.get(name)
            r[qa_rating_column(name)] = "" if score is None else str(score)
        out.append(r)
    return out


def write_qa_results(
    review_dir: str | Path,
    protocol: ReviewProtocol,
    state: ReviewState,
    path: str | Path | None = None,
    include_unfinished: bool = False,
    collection: str | None = None,
) -> Path:
    """Atomically write ``qa-results.csv`` (default ``<review>/qa-results.csv``) and return its path."""
    out = Path(path) if path is not None else Path(review_dir) / QA_RESULTS_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_csv(out, qa_rows(protocol, state, collection, include_unfinished), qa_columns(protocol))
