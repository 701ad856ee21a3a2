"""Errors of the session framework; each message is meant for the person at the screen."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


class SessionError(Exception):
    """A problem whose message can be shown as is (the command line exits with code 2)."""


class SessionLocked(SessionError):
    """Another live session holds the lock."""


class ClockRefused(SessionError):
    """A caller-supplied event time is too far from the wall clock to be recorded."""


class DamagedFile(SessionError):
    """A session's file fails its checks (invalid content, or changed outside the app); it was left untouched."""
