"""What a person's session needs, whatever it is for (a reader study, an AI review), without Qt.

* :mod:`.clock`: event times from the wall clock; a caller-supplied time within 5 minutes of it;
* :mod:`.activetime`: the one active-time rule (:class:`IdleRule`), live (:class:`ActiveClock`) and
  recomputed from an event log (:func:`active_seconds`);
* :mod:`.events`: the interaction log (:class:`EventLog`, :func:`read_events`);
* :mod:`.chain`: the hash chain of saved states (:func:`verify_chain`);
* :mod:`.locking`: one open session per person (:class:`SessionLock`);
* :mod:`.writer`: ordered writes, synchronous or on a background thread (:class:`Writer`);
* :mod:`.base`: :class:`WorkSession`, which ties them together for
  :class:`~lundprobe_gui.study.ObserverSession` and :class:`~lundprobe_gui.review.ReviewSession`.
"""

from __future__ import annotations

from .activetime import DEFAULT_IDLE_S, DEFAULT_TAIL_S, ActiveClock, IdleRule, active_seconds
from .base import WorkSession
from .chain import ChainCheck, Link, verify_chain
from .clock import INJECTED_CLOCK_ENV, MAX_SKEW_S, Now, event_time, iso_utc, parse_iso, to_epoch
from .errors import ClockRefused, DamagedFile, SessionError, SessionLocked
from .events import EventLog, LogMark, read_events
from .locking import SessionLock
from .writer import Writer

__all__ = [
    "DEFAULT_IDLE_S",
    "DEFAULT_TAIL_S",
    "INJECTED_CLOCK_ENV",
    "MAX_SKEW_S",
    "ActiveClock",
    "ChainCheck",
    "ClockRefused",
    "DamagedFile",
    "EventLog",
    "IdleRule",
    "Link",
    "LogMark",
    "Now",
    "SessionError",
    "SessionLock",
    "SessionLocked",
    "WorkSession",
    "Writer",
    "active_seconds",
    "event_time",
    "iso_utc",
    "parse_iso",
    "read_events",
    "to_epoch",
    "verify_chain",
]
