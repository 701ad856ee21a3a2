"""Errors of the review package; every message is meant for the person at the screen."""

from __future__ import annotations

import logging

from ..session.errors import SessionError

logger = logging.getLogger(__name__)


class ReviewError(SessionError):
    """A review-level problem whose message can be shown as is (the CLI exits with code 2)."""


class CorruptReviewFile(ReviewError):
    """review.json or state.json cannot be read; nothing has been overwritten."""


class ReviewRuleError(ReviewError):
    """An action the review protocol does not allow (correcting a segment rated 5, finishing unrated)."""


class NoOpenCase(ReviewError):
    """An action on the current case was asked for while no case is open."""


class ReviewTextError(ReviewError):
    """A comment that cannot be stored (not valid Unicode, control characters, too long); nothing changed."""
