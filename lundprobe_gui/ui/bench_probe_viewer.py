"""Viewer benchmark probe, run by ``lundprobe-gui bench`` in a fresh offscreen process.

``python -m lundprobe_gui.ui.bench_probe_viewer PATIENT`` prints one JSON line: first image,
every layer of the reference frame loaded in the window, the longest the UI thread went without
handling events while loading, slice-change times (key press to painted frame) and the
window/level frame rate.

``python -m lundprobe_gui.ui.bench_probe_viewer --first-run``, with ``LUNDPROBE_CACHE`` pointing at an
empty folder, starts as a first run does (no demo patient cached) and prints the seconds from opening
to the first painted image.
"""

import itertools
import json
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from pathlib import Path

from PySide6 import QtCore, QtTest

from lundprobe_gui.app import make_application, shutdown
from lundprobe_gui.ui.main_window import MainWindow

app = make_application()
win = MainWindow()
win.resize(1600, 1000)
win.show()
app.processEvents()
shown: dict[str, float] = {}


def on_ready(p):
    # the image_ready slot of the window has run before this one (connected earlier)
    win.tri.views[0].graphics.viewport().repaint()
    shown["t"] = time.perf_counter()


win.loader.image_ready.connect(on_ready)
if sys.argv[1] == "--first-run":
    first = QtCore.QEventLoop()
    win.loader.image_ready.connect(lambda p: QtCore.QTimer.singleShot(0, first.quit))

    def failed(message: str) -> None:
        print(message, file=sys.stderr)
        first.quit()

    win.loader.failed.connect(failed)
    t0 = time.perf_counter()
    win.open_path(None)
    first.exec()
    if "t" not in shown:
        sys.exit(1)
    print(json.dumps({"first_run_image_s": shown["t"] - t0}))
    win.loader.wait()
    shutdown(app, win)
    sys.exit(0)
# The window's own event loop runs while the patient loads (no busy waiting here, which would take
# a core from the loader): a 10 ms timer shows how long the UI thread was ever kept from events.
ticks = []
ticker = QtCore.QTimer()
ticker.setInterval(10)
ticker.timeout.connect(lambda: ticks.append(time.perf_counter()))
loop = QtCore.QEventLoop()


def finished(_patient) -> None:
    shown.setdefault("all", time.perf_counter())
    loop.quit()


win.loader.finished.connect(finished)
t0 = time.perf_counter()
ticker.start()
win.open_path(Path(sys.argv[1]))
loop.exec()
ticker.stop()
first_image = shown["t"] - t0
all_layers = shown["all"] - t0
stalls = [(b - a) * 1000.0 for a, b in itertools.pairwise(ticks)]
win.loader.wait()
for _ in range(20):
    app.processEvents()
win.loader.finished.emit(win.patient)
st, patient = win.state, win.patient
assert st is not None and patient is not None, "the patient loaded"
# the figure's worst case: clinical outlines, dose wash, isodose lines and both uncertainty maps
st.dose.wash = st.dose.lines = st.uncertainty.visible = True
st.uncertainty.maps = set(patient.reference_frame.uncertainty)
win.display.changed.emit()
view = win.tri.views[0]
win.tri.active_axis = 0
port = view.graphics.viewport()
keys = [QtCore.Qt.Key.Key_Up] * 12 + [QtCore.Qt.Key.Key_Down] * 24 + [QtCore.Qt.Key.Key_Up] * 12
keys = keys * 2
times = []
for k in keys:
    t = time.perf_counter()
    QtTest.QTest.keyClick(win, k)
    port.repaint()
    times.append((time.perf_counter() - t) * 1000.0)
frames = 0
t = time.perf_counter()
for i in range(60):
    view.window_dragged.emit(3.0 if i % 2 else -2.0, 2.0)
    for v in win.tri.views.values():
        v.graphics.viewport().repaint()
    frames += 1
fps = frames / (time.perf_counter() - t)
print(
    json.dumps(
        {
            "first_image_s": first_image,
            "window_all_layers_s": all_layers,
            "loading_stall_ms": max(stalls),
            "slice_ms": times,
            "window_level_fps": fps,
            "layers": len([k for k in st.layers if st.is_shown(k)]),
        }
    )
)
shutdown(app, win)
