"""Time stamps of the study: explicit ``now`` values (for tests and replay) or the wall clock.

Every event method of the study package takes an optional ``now``: a timezone-aware
``datetime``, POSIX seconds as a float, or None for the current time. Internally times are POSIX
seconds; files hold ISO 8601 UTC strings with milliseconds.
"""

from __future__ import annotations

import datetime as _dt
import logging
import time

logger = logging.getLogger(__name__)

Now = _dt.datetime | float | int | None
"""What the event methods accept as the time of an event."""


def to_epoch(now: Now = None) -> float:
    """POSIX seconds for ``now`` (the wall clock when None).

    Raises
    ------
    ValueError
        For a naive ``datetime``: its time zone would be guessed, and study times must not be.
    """
    if now is None:
        return time.time()
    if isinstance(now, _dt.datetime):
        if now.tzinfo is None:
            raise ValueError("study times must be timezone-aware datetimes (e.g. datetime.now(timezone.utc))")
        return now.timestamp()
    return float(now)


def iso_utc(t: float) -> str:
    """ISO 8601 UTC text of POSIX seconds, e.g. ``2025-03-01T09:30:00.000+00:00``."""
    return _dt.datetime.fromtimestamp(float(t), _dt.timezone.utc).isoformat(timespec="milliseconds")


def parse_iso(text: str) -> float:
    """POSIX seconds of an ISO 8601 string written by :func:`iso_utc`."""
    value = _dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.timestamp()
