"""Editing figures on the full-size patient: brush stamp (with the displayed slice's update), undo,
save, and the memory of 200 strokes of history. Each repeat runs in a fresh offscreen process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .figures import Samples, percentile

_PROBE = r"""
import json, os, sys, tempfile, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
import numpy as np
import lundprobe_gui as lp
from lundprobe_gui.app import make_application, shutdown
from lundprobe_gui.ui.loader import load_patient
from lundprobe_gui.ui.main_window import MainWindow

app = make_application()
win = MainWindow(); win.resize(1600, 1000); win.show()
win.ask = lambda *a: "Discard"
p = lp.open_patient(sys.argv[1], edits=False)
win.set_patient(p); load_patient(p); win.show_image_ready(p); win.show_all_loaded(p)
for _ in range(5): app.processEvents()
ctrl = win.edit
key = ctrl.start_editing("CTVT_427", "nnUNet", "step1_obsBench")
win.choose_tool("brush"); ctrl.set_brush_radius(5.0)
z, y, x = win.state.cursor
port = win.tri.views[0].graphics.viewport()
rng = np.random.default_rng(0)
stamp, stamp_paint = [], []
for i in range(300):
    # every stamp lands on new ground, so each one really changes the mask and redraws the slice
    dy, dx = -150 + (i // 15) * 15, -160 + (i % 15) * 22
    t = time.perf_counter()
    ctrl.handle("press", 0, (z, y + dy, x + dx)); ctrl.handle("release", 0, (z, y + dy, x + dx))
    t1 = time.perf_counter()
    port.repaint()
    t2 = time.perf_counter()
    stamp.append((t1 - t) * 1000); stamp_paint.append((t2 - t) * 1000)
undo = []
for i in range(10):
    a = rng.integers(-40, 41, 2)
    ctrl.handle("press", 0, (z, y + a[0], x + a[1]))
    for k in range(1, 31):
        ctrl.handle("move", 0, (z, y + a[0], x + a[1] + k * 2))
    ctrl.handle("release", 0, (z, y + a[0], x + a[1] + 60))
    t = time.perf_counter(); win.undo(); port.repaint(); undo.append((time.perf_counter() - t) * 1000)
out = tempfile.mkdtemp()
save = []
for i in range(3):
    # a new stamp first: a save of an unchanged mask writes nothing, and the figure is that of a real save
    ctrl.handle("press", 0, (z, y + 170, x - 160 + i * 40)); ctrl.handle("release", 0, (z, y + 170, x - 160 + i * 40))
    t = time.perf_counter()
    ctrl.save([key], out_dir=out, background=False)
    save.append(time.perf_counter() - t)
ctrl.session.history.clear()
for i in range(200):
    a = rng.integers(-60, 61, 2); zz = int(z + rng.integers(-3, 4))
    ctrl.handle("press", 0, (zz, y + a[0], x + a[1]))
    for k in range(1, 11):
        ctrl.handle("move", 0, (zz, y + a[0] + k, x + a[1] + k * 3))
    ctrl.handle("release", 0, (zz, y + a[0] + 10, x + a[1] + 30))
hist_mb = ctrl.session.history.nbytes / 1e6
print(json.dumps({"stamp": stamp, "stamp_paint": stamp_paint, "undo": undo, "save": save, "hist_mb": hist_mb,
                  "strokes": ctrl.session.history.undo_depth}))
shutdown(app, win)
"""


def run(patient_dir: Path, repeat: int) -> Samples:
    """brush_stamp_ms, brush_stamp_p95_ms, undo_ms, save_s, history_200_strokes_mb."""
    rows = []
    import tempfile

    # a private data folder: the bench's autosaves must never reach the user's recovery area
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LUNDPROBE_DATA=tempfile.mkdtemp(prefix="lp-bench-"))
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _PROBE, str(patient_dir)], capture_output=True, text=True, check=True, env=env
        ).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    return {
        "brush_stamp_ms": ([med(r["stamp"]) for r in rows], "ms"),
        "brush_stamp_p95_ms": ([percentile(r["stamp"], 95) for r in rows], "ms"),
        "brush_stamp_painted_ms": ([med(r["stamp_paint"]) for r in rows], "ms"),
        "undo_ms": ([med(r["undo"]) for r in rows], "ms"),
        "save_s": ([med(r["save"]) for r in rows], "s"),
        "history_200_strokes_mb": ([r["hist_mb"] for r in rows], "MB"),
    }
