"""Garbage cycles are collected in the GUI thread, never in a worker thread that allocates."""

from __future__ import annotations

import gc
import threading

import pytest

from lundprobe_gui.app import make_application
from lundprobe_gui.ui.gc_guard import GuiThreadCollector


class _Cycle:
    def __init__(self, log: list) -> None:
        self.me = self
        self.log = log

    def __del__(self) -> None:
        self.log.append(threading.current_thread().name)


@pytest.mark.slow
def test_cycles_made_in_a_worker_are_collected_in_the_gui_thread(qtbot):
    app = make_application()
    collector = app.findChild(GuiThreadCollector)
    assert collector is not None and not gc.isenabled()
    gc.collect()
    log: list = []
    kept: list = []

    def worker():
        _Cycle(log)  # garbage at once, but only the cycle collector can free it
        kept.append([[i] for i in range(50_000)])  # what a loader keeps: far past the first threshold

    t = threading.Thread(target=worker, name="loader-like")
    t.start()
    t.join()
    assert log == []  # nothing was collected in the worker
    qtbot.waitUntil(lambda: bool(log), timeout=5000)
    assert log == [threading.main_thread().name]
    assert collector.collections >= 1
    kept.clear()


@pytest.mark.slow
def test_the_collector_follows_the_generation_thresholds(qtbot):
    app = make_application()
    collector = app.findChild(GuiThreadCollector)
    gc.collect()
    assert collector.check() == 0  # below the first threshold: no collection at all
    before = collector.collections
    junk = [[i] for i in range(collector.threshold[0] + 100)]
    assert gc.get_count()[0] > collector.threshold[0]
    collector.check()
    assert collector.collections == before + 1 and gc.get_count()[0] < collector.threshold[0]
    del junk
