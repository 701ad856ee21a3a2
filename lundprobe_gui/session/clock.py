"""Times of sessions: the wall clock, and event times a caller may supply within limits.

Every event method of the study and review sessions takes an optional ``now``: a timezone-aware
``datetime``, POSIX seconds, or None for the wall clock. A supplied time is recorded only when it
lies within :data:`MAX_SKEW_S` of the wall clock: a script cannot serve itself a 28-day washout in
two seconds. The test suite replays fixed times; it enables an injected clock by setting
:data:`INJECTED_CLOCK_ENV` to ``1``, which nothing else sets. Read-only queries (status, progress)
accept any time. Files hold ISO 8601 UTC strings with milliseconds.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import time

from .errors import ClockRefused

logger = logging.getLogger(__name__)

Now = _dt.datetime | float | int | None
"""What the event methods accept as the time of an event."""

MAX_SKEW_S = 300.0
"""Largest difference between a caller-supplied event time and the wall clock (5 minutes)."""
INJECTED_CLOCK_ENV = "LUNDPROBE_INJECTED_CLOCK"
"""Set to ``1`` (by the test suite only) to record caller-supplied times however far they are from now."""


def injected_clock() -> bool:
    """Whether caller-supplied event times are accepted without the wall-clock check."""
    return os.environ.get(INJECTED_CLOCK_ENV) == "1"


def wall_time() -> float:
    """The wall clock (POSIX seconds)."""
    return time.time()


def to_epoch(now: Now = None) -> float:
    """POSIX seconds for ``now`` (the wall clock when None); any time is accepted (queries).

    Raises
    ------
    ValueError
        For a naive ``datetime``: its time zone would be guessed, and session times must not be.
    """
    if now is None:
        return time.time()
    if isinstance(now, _dt.datetime):
        if now.tzinfo is None:
            raise ValueError("session times must be timezone-aware datetimes (e.g. datetime.now(timezone.utc))")
        return now.timestamp()
    value = float(now)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{now!r} is not a time")
    return value


def event_time(now: Now = None) -> float:
    """POSIX seconds of an event to be recorded: the wall clock, or ``now`` when it is close enough to it.

    Raises
    ------
    ClockRefused
        When ``now`` is more than :data:`MAX_SKEW_S` from the wall clock and no injected clock is enabled.
    """
    if now is None:
        return time.time()
    t = to_epoch(now)
    if not injected_clock():
        skew = t - time.time()
        if abs(skew) > MAX_SKEW_S:
            raise ClockRefused(
                f"the event time {iso_utc(t)} is {abs(skew) / 60:.0f} minutes "
                f"{'ahead of' if skew > 0 else 'behind'} this computer's clock; times are taken from the clock, "
                f"and a supplied time may differ from it by at most {MAX_SKEW_S / 60:g} minutes"
            )
    return t


def iso_utc(t: float) -> str:
    """ISO 8601 UTC text of POSIX seconds, e.g. ``2025-03-01T09:30:00.000+00:00``."""
    return _dt.datetime.fromtimestamp(float(t), _dt.UTC).isoformat(timespec="milliseconds")


def parse_iso(text: str) -> float:
    """POSIX seconds of an ISO 8601 string (UTC assumed when it has no offset)."""
    value = _dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.UTC)
    return value.timestamp()
