"""AI-review mode (Qt-free): rate each segment of an AI segmentation on a 5-point scale, correct it
unless it is rated 5, comment, and record the active review time; results in ``review-results.csv``.

A lighter cousin of the reader study (:mod:`lundprobe_gui.study`): one reviewer, a case list in a
fixed order, no steps or blinding. Typical use::

    from lundprobe_gui.review import ReviewSession, init_review, LIKERT_SCALE
    init_review("review_R1", dataset="data/", reviewer="R1")
    s = ReviewSession("review_R1")
    p = s.open_case(s.next_case())
    for seg in s.segments():
        s.rate(seg.name, 3)
    s.save_correction(seg.name, edited_mask)   # only for a segment not rated 5
    s.set_comment("findings", "...")
    s.finish_case()                             # writes review-results.csv
    s.close()
"""

from __future__ import annotations

from .create import init_review
from .errors import CorruptReviewFile, NoOpenCase, ReviewError, ReviewRuleError
from .protocol import OUTPUT_DIR, RESULTS_FILE, CaseSpec, ReviewProtocol, SegmentSpec, load_protocol
from .results import columns, rating_column, write_results
from .scale import LIKERT_SCALE, NO_CORRECTION_SCORE, STATEMENT, LikertLevel, level
from .session import ReviewSession
from .state import COMMENT_KINDS, DONE, IN_PROGRESS, NOT_STARTED, CaseState, ReviewState, load_state

__all__ = [
    "COMMENT_KINDS",
    "DONE",
    "IN_PROGRESS",
    "LIKERT_SCALE",
    "NOT_STARTED",
    "NO_CORRECTION_SCORE",
    "OUTPUT_DIR",
    "RESULTS_FILE",
    "STATEMENT",
    "CaseSpec",
    "CaseState",
    "CorruptReviewFile",
    "LikertLevel",
    "NoOpenCase",
    "ReviewError",
    "ReviewProtocol",
    "ReviewRuleError",
    "ReviewSession",
    "ReviewState",
    "SegmentSpec",
    "columns",
    "init_review",
    "level",
    "load_protocol",
    "load_state",
    "rating_column",
    "write_results",
]
