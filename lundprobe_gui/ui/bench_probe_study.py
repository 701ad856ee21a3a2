"""Study-window benchmark probe, run by ``lundprobe-gui bench --only study`` in a fresh offscreen process.

``python -m lundprobe_gui.ui.bench_probe_study STUDY_DIR`` works through three cases of the study as
observer ``obsBench`` (ratings, brush strokes, autosaves, finishing each case) and prints one JSON line:
the seconds from finishing a case to the next one on screen, and the longest the GUI thread went without
handling events during each background save (ms).
"""

import itertools
import json
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6 import QtCore

from lundprobe_gui.app import make_application, shutdown
from lundprobe_gui.ui.main_window import MainWindow

app = make_application()
win = MainWindow()
win.resize(1600, 1000)
win.show()
mode = win.study_mode  # type: ignore[attr-defined]  # the study mode adds itself (ui/modes.py)
mode.inform = lambda *a, **k: None
mode.ask = lambda text, info, buttons: buttons[0]
shown = []
mode.case_shown.connect(lambda v: shown.append(time.perf_counter()))


def wait(cond, timeout=300.0):
    t = time.perf_counter()
    while not cond():
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)
        if time.perf_counter() - t > timeout:
            raise SystemExit("timed out")


def settle():
    wait(lambda: shown and not win.progress.isVisible() and not mode.session.writing)
    mode.preload_done()  # an observer works minutes on a case: the next one has loaded meanwhile
    for _ in range(5):
        app.processEvents()


def stroke(k):
    z, y, x = win.state.cursor
    y += (k % 5) * 6 - 12
    for kind, dx in (("press", 0), ("move", 6), ("move", 12), ("release", 18)):
        win.edit.handle(kind, 0, (z, y, x + dx))


ticks = []
timer = QtCore.QTimer()
timer.setInterval(1)
timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
assert mode.start(sys.argv[1], "obsBench")
settle()
switch, stall = [], []
for _ in range(3):
    for name in ("Rectum", "CTVT_427"):
        mode.select_structure(name)
        mode.rate("quality", 3)
        mode.rate("confidence", 4)
    assert mode.edit_structure("CTVT_427") is not None
    for i in range(3):
        stroke(i)
        settle()
        ticks.clear()
        timer.start()
        t0 = time.perf_counter()
        win.edit.autosave()  # the debounce, the 60 s timer and focus loss all call this
        wait(lambda: not mode.session.writing)
        t1 = time.perf_counter()
        while time.perf_counter() - t1 < 0.05:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 2)
        timer.stop()
        marks = [t0] + [t for t in ticks if t <= t1 + 0.05]
        stall.append(max(b - a for a, b in itertools.pairwise(marks)) * 1000 if len(marks) > 1 else (t1 - t0) * 1000)
    stroke(7)  # an unsaved edit: finishing writes it while the next case loads
    before = len(shown)
    t0 = time.perf_counter()
    assert mode.finish_case(confirm=False)
    wait(lambda before=before: len(shown) > before)
    switch.append(shown[-1] - t0)
    settle()
print(json.dumps({"switch": switch, "stall": stall}))
mode.end()
shutdown(app, win)
