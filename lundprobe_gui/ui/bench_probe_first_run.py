"""First-run benchmark probe, run by ``lundprobe-gui bench`` in a fresh offscreen process.

``python -m lundprobe_gui.ui.bench_probe_first_run`` with ``LUNDPROBE_CACHE`` pointing at an empty
folder starts the window as a first run does (no demo patient cached) and prints one JSON line: the
seconds from opening to the first painted image.
"""

import json
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
t_start = time.perf_counter()
from PySide6 import QtCore  # noqa: E402
from lundprobe_gui.app import make_application, shutdown  # noqa: E402
from lundprobe_gui.ui.main_window import MainWindow  # noqa: E402

app = make_application()
win = MainWindow()
win.resize(1600, 1000)
win.show()
app.processEvents()
shown = {}


def on_ready(p):
    win.tri.views[0].graphics.viewport().repaint()
    shown["t"] = time.perf_counter()
    QtCore.QTimer.singleShot(0, loop.quit)


loop = QtCore.QEventLoop()
win.loader.image_ready.connect(on_ready)
win.loader.failed.connect(lambda m: (print(m, file=sys.stderr), loop.quit()))
t0 = time.perf_counter()
win.open_path(None)
loop.exec()
if "t" not in shown:
    sys.exit(1)
print(json.dumps({"first_run_image_s": shown["t"] - t0, "process_start_to_image_s": shown["t"] - t_start}))
win.loader.wait()
shutdown(app, win)
