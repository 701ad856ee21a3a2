"""Active time: a clock that runs while the observer is working and pauses on its own.

The clock is driven only by explicit events. Each input event (``activity``) keeps it running
for ``idle_timeout`` seconds; without input it pauses when that time is up, so a gap of 10
minutes between two inputs counts as 2 minutes with the default timeout: the period past the
timeout is excluded. Minimising the window pauses the clock at once; restoring it (or any input
after it) starts it again. The gap between a quit or crash and the next session is never
counted, because a new clock starts paused.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


class ActiveTimer:
    """Counts active seconds from explicit events.

    :meth:`credit` hands out the seconds earned since the previous call, so the caller can put
    them on whichever case and structure was active during that time.

    Parameters
    ----------
    idle_timeout : float
        Seconds without input after which the clock pauses.
    """

    def __init__(self, idle_timeout: float = 120.0) -> None:
        if idle_timeout <= 0:
            raise ValueError("idle_timeout must be > 0")
        self.idle_timeout = float(idle_timeout)
        self.minimised = False
        self._last_input: float | None = None
        self._credited_until: float | None = None

    @property
    def running(self) -> bool:
        """Whether a recent input keeps the clock going (at the time of the last event)."""
        return self._last_input is not None and not self.minimised

    def credit(self, now: float) -> float:
        """Seconds earned since the last credit, up to ``now``; the clock keeps its state."""
        if self._last_input is None or self._credited_until is None or self.minimised:
            return 0.0
        end = min(now, self._last_input + self.idle_timeout)
        earned = max(0.0, end - self._credited_until)
        # a clock that went backwards earns nothing and does not move the credited mark back
        self._credited_until = max(self._credited_until, end)
        return earned

    def activity(self, now: float) -> float:
        """An input at ``now``; returns the seconds earned before it.

        Input while minimised means the window is back (a missed restore event must not stop the
        clock for good).
        """
        earned = self.credit(now)
        if self.minimised:
            logger.debug("input while minimised: treating it as a restore")
            self.minimised = False
        if self._last_input is None or now >= self._last_input:
            self._last_input = now
            self._credited_until = now
        return earned

    def window_minimised(self, now: float) -> float:
        """The window was minimised at ``now``: pause at once; returns the seconds earned before it."""
        earned = self.credit(now)
        self.minimised = True
        self._last_input = None
        self._credited_until = None
        return earned

    def window_restored(self, now: float) -> float:
        """The window is visible again: the clock runs from ``now`` as after an input."""
        self.minimised = False
        return self.activity(now)

    def pause(self, now: float) -> float:
        """Stop until the next input (closing a case, quitting); returns the seconds earned before it."""
        earned = self.credit(now)
        self._last_input = None
        self._credited_until = None
        return earned
