"""The 5-point Likert scale for rating an AI segmentation, as data the UI can show on screen.

It is the scale of a public AI-review dataset (see docs/dataset-layout.md): each segment of the
AI segmentation is rated against the statement :data:`STATEMENT`. A segment rated 5 is used as is,
so it is never corrected; any other rating allows a correction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)

STATEMENT = "The AI segmentation of this segment is clinically acceptable as is."


@dataclass(frozen=True)
class LikertLevel:
    """One point of the scale.

    Attributes
    ----------
    score : int
        1 (worst) to 5 (best).
    label : str
        Short answer to :data:`STATEMENT`, e.g. "Strongly agree".
    meaning : str
        What the answer means for the segmentation.
    allows_correction : bool
        Whether the reviewer may correct a segment with this rating.
    """

    score: int
    label: str
    meaning: str
    allows_correction: bool

    def text(self) -> str:
        """``"5 - Strongly agree: use as is, ..."`` for a button or tooltip."""
        return f"{self.score} - {self.label}: {self.meaning}"


LIKERT_SCALE: tuple[LikertLevel, ...] = (
    LikertLevel(5, "Strongly agree", "use as is, clinically acceptable without change", False),
    LikertLevel(4, "Agree", "minor edits that are not necessary; stylistic, not clinically important", True),
    LikertLevel(3, "Neither agree nor disagree", "minor edits that are necessary, quicker than starting over", True),
    LikertLevel(2, "Disagree", "major edits needed; the reviewer would rather start from scratch", True),
    LikertLevel(1, "Strongly disagree", "unusable", True),
)
"""Best first, as the UI lists them."""

NO_CORRECTION_SCORE = 5
"""The rating that means "use as is": a segment rated 5 cannot be corrected."""


def level(score: int) -> LikertLevel:
    """The level of a score.

    Raises
    ------
    ValueError
        For anything but a whole number 1..5.
    """
    if isinstance(score, bool) or not isinstance(score, int):
        raise ValueError(f"a rating is a whole number from 1 to 5, not {score!r}")
    for lv in LIKERT_SCALE:
        if lv.score == score:
            return lv
    raise ValueError(f"a rating is a whole number from 1 to 5, not {score}")
