"""Python's cyclic garbage collector, run in the GUI thread only.

CPython runs a collection in whichever thread happens to allocate past the threshold. In this app
that is often a loader, save or metrics thread; if the garbage then holds a Qt wrapper (a closed
dialog, a slot that refers to its widget), the C++ object is destroyed from that thread, which Qt
does not allow and which can abort the process. So automatic collection is switched off and the
same generational thresholds are checked on a timer in the GUI thread instead.
"""

from __future__ import annotations

import gc
import logging

from PySide6 import QtCore

logger = logging.getLogger(__name__)

INTERVAL_MS = 500


class GuiThreadCollector(QtCore.QObject):
    """Collects garbage cycles from a timer in the GUI thread (automatic collection is disabled)."""

    def __init__(self, parent: QtCore.QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        self.collections = 0
        gc.disable()
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def check(self) -> int:
        """Collect the oldest generation whose threshold is exceeded; return the objects found unreachable."""
        counts = gc.get_count()
        if counts[0] <= self.threshold[0]:
            return 0
        generation = 0
        while generation < 2 and counts[generation + 1] > self.threshold[generation + 1]:
            generation += 1
        self.collections += 1
        return gc.collect(generation)

    def stop(self) -> None:
        """Hand collection back to the interpreter."""
        self._timer.stop()
        gc.enable()


def install(app: QtCore.QCoreApplication) -> GuiThreadCollector:
    """The application's collector (created on first call, owned by ``app``)."""
    found = app.findChild(GuiThreadCollector)
    if found is not None:
        return found
    collector = GuiThreadCollector(app)
    collector.setObjectName("gui-thread-gc")
    logger.debug("garbage collection runs in the GUI thread every %d ms", INTERVAL_MS)
    return collector
