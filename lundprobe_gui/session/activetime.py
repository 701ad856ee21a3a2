"""Active time: one rule, applied live by the sessions and again, with any threshold, to their event logs.

Active time is counted only between two logged events. The gap between an event and the next
one goes to whatever the first event left active (a study's structure, a review's case):

* a gap of at most ``idle_s`` seconds (60 s by default) counts in full: the person was reading
  the images or thinking between two inputs;
* a longer gap is idle: only its first ``tail_s`` seconds (10 s by default) count, the time
  spent on the last action before looking away;
* nothing counts after an event that pauses the clock (minimising the window, the application
  losing the focus, closing the case or the session, or an event logged with ``"pause": true``
  such as finishing a review case), nor across a quit or a crash, nor a gap whose end is
  earlier than its start (a clock set back).

:func:`active_seconds` applies the rule to a list of events; the sessions apply the same rule as
the events happen (:class:`ActiveClock`), so the stored active times equal a recomputation of
the event log with the study's own threshold, and any other threshold can be tried afterwards.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_IDLE_S = 60.0
DEFAULT_TAIL_S = 10.0

PAUSE_KINDS = frozenset({"minimised", "focus_out", "close", "case_closed", "paused"})
"""Events after which the clock stands still until the next event."""
OPEN_KIND = "open"
"""The first event of a session: the gap before it (the time the app was not running) never counts."""


@dataclass(frozen=True)
class IdleRule:
    """How a gap between two events is credited.

    Parameters
    ----------
    idle_s : float
        Gaps up to this long count in full.
    tail_s : float
        What a longer gap counts (at most the gap itself).
    """

    idle_s: float = DEFAULT_IDLE_S
    tail_s: float = DEFAULT_TAIL_S

    def __post_init__(self) -> None:
        if not (math.isfinite(self.idle_s) and self.idle_s > 0):
            raise ValueError("the idle threshold must be a number > 0 seconds")
        if not (math.isfinite(self.tail_s) and 0 <= self.tail_s <= self.idle_s):
            raise ValueError("the idle tail must be a number of seconds between 0 and the idle threshold")

    def credit(self, gap: float) -> float:
        """Seconds credited for a gap of ``gap`` seconds between two events."""
        if not gap > 0:
            return 0.0
        return gap if gap <= self.idle_s else min(gap, self.tail_s)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"idle_seconds": self.idle_s, "idle_tail_seconds": self.tail_s}


@dataclass(frozen=True)
class Gap:
    """Where the time after an event goes: ``target`` (None: nowhere) and flags such as ``unc``."""

    t: float
    target: Hashable | None
    paused: bool
    flags: frozenset[str] = frozenset()


class ActiveClock:
    """The rule applied live: each event closes the previous gap and opens the next.

    Parameters
    ----------
    rule : IdleRule
        The crediting rule.
    """

    def __init__(self, rule: IdleRule) -> None:
        self.rule = rule
        self._open: Gap | None = None

    @property
    def open_gap(self) -> Gap | None:
        """The gap running since the last event (None before the first event)."""
        return self._open

    def close(self, t: float) -> tuple[Hashable | None, float, frozenset[str]]:
        """An event at ``t`` ends the running gap: (its target, seconds credited, its flags)."""
        g = self._open
        if g is None or g.paused or g.target is None:
            return None, 0.0, frozenset()
        return g.target, self.rule.credit(t - g.t), g.flags

    def open(self, t: float, target: Hashable | None, paused: bool, flags: Iterable[str] = ()) -> None:
        """The event at ``t`` starts a new gap credited to ``target`` (unless ``paused``)."""
        self._open = Gap(t, target, paused, frozenset(flags))

    def restore(self, gap: Gap | None) -> None:
        """Put back a gap saved from :attr:`open_gap` (a change that was taken back)."""
        self._open = gap

    def running(self, now: float) -> float:
        """What the running gap would earn if an event came at ``now`` (for a live display)."""
        g = self._open
        if g is None or g.paused or g.target is None:
            return 0.0
        return self.rule.credit(now - g.t)


def event_target(event: dict[str, Any], keys: tuple[str, ...]) -> Hashable | None:
    """The target of a logged event: the tuple of its ``keys`` values, None when the first is missing."""
    if event.get(keys[0]) is None:
        return None
    return tuple(event.get(k) for k in keys)


def active_seconds(
    events: Iterable[dict[str, Any]], rule: IdleRule, keys: tuple[str, ...], flag_names: tuple[str, ...] = ()
) -> dict[Hashable, dict[str, float]]:
    """Recompute active time from an event log.

    Parameters
    ----------
    events : iterable of dict
        Logged events in log order, each with ``t`` (POSIX seconds of the event), ``kind``, the
        target fields in ``keys`` (the target after the event) and optional boolean flags.
    rule : IdleRule
        Threshold and tail to apply (the study's own, or any other).
    keys : tuple of str
        Event fields that name the target (for a study: ``step``, ``patient``, ``structure``).
    flag_names : tuple of str
        Boolean event fields whose seconds are also summed apart (``unc``: the uncertainty map was shown).

    Returns
    -------
    dict
        ``{target: {"active": seconds, <flag>: seconds...}}``.
    """
    out: dict[Hashable, dict[str, float]] = {}
    clock = ActiveClock(rule)
    for ev in events:
        try:
            t = float(ev["t"])
        except (KeyError, TypeError, ValueError):
            logger.warning("an event without a time was skipped: %s", str(ev)[:200])
            continue
        kind = str(ev.get("kind", ""))
        if kind == OPEN_KIND:
            clock.restore(None)
        target, seconds, flags = clock.close(t)
        if target is not None and seconds > 0:
            row = out.setdefault(target, {"active": 0.0, **{f: 0.0 for f in flag_names}})
            row["active"] += seconds
            for f in flags:
                if f in row:
                    row[f] += seconds
        clock.open(
            t,
            event_target(ev, keys),
            kind in PAUSE_KINDS or bool(ev.get("pause")),
            [f for f in flag_names if ev.get(f)],
        )
    return out
