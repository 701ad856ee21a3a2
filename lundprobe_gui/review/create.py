"""Creating a review folder: its definition (``review.json``) and an empty progress (``state.json``).

Kept apart from :mod:`~lundprobe_gui.review.protocol` because it needs both the definition and the
state, and the state builds on the definition (never the other way round).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from ..io.guard import WriteRefused
from ..io.output_root import claim_output_root
from .errors import ReviewError
from .protocol import IDLE_SECONDS, REVIEW_FILE, STATE_FILE, ReviewProtocol, create_protocol, protected_of, write_json
from .state import ReviewState

logger = logging.getLogger(__name__)


def init_review(
    review_dir: str | Path,
    dataset: str | Path,
    reviewer: str,
    cases: Sequence[str] | None = None,
    segmentation: str | None = None,
    idle_seconds: float = IDLE_SECONDS,
) -> ReviewProtocol:
    """Create a review folder: ``review.json`` and an empty ``state.json``.

    Raises
    ------
    ReviewError
        When the folder already holds a review (it is never overwritten), or see :func:`create_protocol`.
    """
    review_dir = Path(review_dir)
    if (review_dir / REVIEW_FILE).exists():
        raise ReviewError(f"{review_dir} already holds a review; choose a new folder")
    protocol = create_protocol(dataset, reviewer, cases, segmentation, idle_seconds)
    try:
        claim_output_root(review_dir, "review", protected_of(protocol))
    except WriteRefused as e:
        raise ReviewError(str(e)) from e
    write_json(review_dir / STATE_FILE, ReviewState.new(protocol).to_dict())
    write_json(review_dir / REVIEW_FILE, protocol.to_dict())
    logger.info("review of %d case(s) by %s created in %s", len(protocol.cases), reviewer, review_dir)
    return protocol
