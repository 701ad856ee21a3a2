"""A reviewer's progress: per case the ratings, corrections, comments and active time.

``state.json`` is rewritten atomically after every change, so a crash loses at most the active
time since the last save (see :data:`lundprobe_gui.review.session.PERSIST_EVERY_S`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.text import validate_text
from .errors import CorruptReviewFile
from .protocol import STATE_FILE, ReviewProtocol, read_json, write_json

logger = logging.getLogger(__name__)

STATE_FORMAT = "lundprobe_gui-review-state"
NOT_STARTED, IN_PROGRESS, DONE = "not started", "in progress", "done"
COMMENT_KINDS = ("segmentation", "findings")
MAX_COMMENT = 4000
"""Longest comment, in characters."""


@dataclass
class CaseState:
    """Progress on one case.

    Attributes
    ----------
    status : str
        ``"not started"``, ``"in progress"`` or ``"done"``.
    ratings : dict
        Segment name to score 1..5.
    corrected : list of str
        Segments with a correction that counts (in the order they were first corrected).
    files : dict
        AI segmentation file (relative to the dataset root) to the newest saved version made
        from it (relative to the review folder). A label map's segments share one entry.
    comments : dict
        ``"segmentation"`` and ``"findings"`` free text.
    active_seconds : float
        Active review time.
    started, finished : str
        ISO 8601 UTC times (empty until they happen).
    """

    status: str = NOT_STARTED
    ratings: dict[str, int] = field(default_factory=dict)
    corrected: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=lambda: {k: "" for k in COMMENT_KINDS})
    active_seconds: float = 0.0
    started: str = ""
    finished: str = ""

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "status": self.status,
            "ratings": dict(self.ratings),
            "corrected": list(self.corrected),
            "files": dict(self.files),
            "comments": dict(self.comments),
            "active_seconds": round(self.active_seconds, 3),
            "started": self.started,
            "finished": self.finished,
        }

    @classmethod
    def from_dict(cls, d: dict) -> CaseState:
        """Inverse of :meth:`to_dict`."""
        comments = {
            k: validate_text(str(d.get("comments", {}).get(k, "")), f"the {k} comment", MAX_COMMENT)
            for k in COMMENT_KINDS
        }
        status = str(d.get("status", NOT_STARTED))
        if status not in (NOT_STARTED, IN_PROGRESS, DONE):
            raise ValueError(f"unknown case status {status!r}")
        return cls(
            status,
            {str(k): int(v) for k, v in d.get("ratings", {}).items()},
            [str(s) for s in d.get("corrected", [])],
            {str(k): str(v) for k, v in d.get("files", {}).items()},
            comments,
            float(d.get("active_seconds", 0.0)),
            str(d.get("started", "")),
            str(d.get("finished", "")),
        )


@dataclass
class ReviewState:
    """Progress on every case, and which case was open last (to resume after a crash)."""

    reviewer: str
    cases: dict[str, CaseState]
    current: str | None = None

    @classmethod
    def new(cls, protocol: ReviewProtocol) -> ReviewState:
        """Nothing done yet."""
        return cls(protocol.reviewer, {c.case_id: CaseState() for c in protocol.cases})

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "format": STATE_FORMAT,
            "version": 1,
            "reviewer": self.reviewer,
            "current": self.current,
            "cases": {k: v.to_dict() for k, v in self.cases.items()},
        }

    @classmethod
    def from_dict(cls, d: Any, protocol: ReviewProtocol, origin: str = STATE_FILE) -> ReviewState:
        """Inverse of :meth:`to_dict`; cases of the protocol missing from the file start afresh.

        Raises
        ------
        CorruptReviewFile
            When the content is not this review's state.
        """
        if not isinstance(d, dict) or d.get("format") != STATE_FORMAT:
            raise CorruptReviewFile(f"{origin}: not a lundprobe_gui review state")
        if d.get("reviewer") != protocol.reviewer:
            raise CorruptReviewFile(f"{origin}: belongs to reviewer {d.get('reviewer')!r}, not {protocol.reviewer!r}")
        try:
            cases = {c.case_id: CaseState.from_dict(d.get("cases", {}).get(c.case_id, {})) for c in protocol.cases}
        except (TypeError, ValueError, AttributeError) as e:
            raise CorruptReviewFile(f"{origin}: invalid case entry ({e}); it was left untouched") from e
        current = d.get("current")
        return cls(protocol.reviewer, cases, current if current in cases else None)


def load_state(review_dir: str | Path, protocol: ReviewProtocol) -> ReviewState:
    """Read ``<review>/state.json``."""
    path = Path(review_dir) / STATE_FILE
    return ReviewState.from_dict(read_json(path, "review state"), protocol, str(path))


def save_state(review_dir: str | Path, state: ReviewState) -> None:
    """Atomically replace ``<review>/state.json``."""
    save_state_dict(review_dir, state.to_dict())


def save_state_dict(review_dir: str | Path, data: dict) -> None:
    """Atomically replace ``<review>/state.json`` with a state's :meth:`ReviewState.to_dict` form."""
    write_json(Path(review_dir) / STATE_FILE, data)
