"""Reader-study figures on the full-size patient, measured in the study window (offscreen, fresh processes).

* ``study_case_switch_s``: from *Finish case* (with an edited structure to save) until the next
  case's image is on screen; three switches per run (case 1 to 2, step 1 to step 2 with a 0-day
  washout, case 1 to 2 again), on two full-size patients (hard links of the bench patient). The
  window loads the next case's image ahead while the observer works; the probe lets that finish,
  as minutes of rating and editing would.
* ``study_save_stall_ms``: the longest time the window's event loop stood still while a save of
  a brushed full-size structure ran, from the autosave call until the session's writer was idle
  (a 1 ms timer marks the loop's turns).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import Samples

_PROBE = r"""
import json, os, sys, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6 import QtCore
from lundprobe_gui.app import make_application, shutdown
from lundprobe_gui.ui.main_window import MainWindow

app = make_application()
win = MainWindow(); win.resize(1600, 1000); win.show()
mode = win.study_mode
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
timer = QtCore.QTimer(); timer.setInterval(1); timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
assert mode.start(sys.argv[1], "obsBench")
settle()
switch, stall = [], []
for n in range(3):
    for name in ("Rectum", "CTVT_427"):
        mode.select_structure(name)
        mode.rate("quality", 3); mode.rate("confidence", 4)
    assert mode.edit_structure("CTVT_427") is not None
    for i in range(3):
        stroke(i)
        settle()
        ticks.clear(); timer.start()
        t0 = time.perf_counter()
        win.edit.autosave()  # the debounce, the 60 s timer and focus loss all call this
        wait(lambda: not mode.session.writing)
        t1 = time.perf_counter()
        while time.perf_counter() - t1 < 0.05:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 2)
        timer.stop()
        marks = [t0] + [t for t in ticks if t <= t1 + 0.05]
        stall.append(max(b - a for a, b in zip(marks, marks[1:])) * 1000 if len(marks) > 1 else (t1 - t0) * 1000)
    stroke(7)  # an unsaved edit: finishing writes it while the next case loads
    before = len(shown)
    t0 = time.perf_counter()
    assert mode.finish_case(confirm=False)
    wait(lambda: len(shown) > before)
    switch.append(shown[-1] - t0)
    settle()
print(json.dumps({"switch": switch, "stall": stall}))
mode.end()
shutdown(app, win)
"""


def _link_tree(src: Path, dst: Path) -> None:
    try:
        shutil.copytree(src, dst, copy_function=os.link)
    except OSError:  # another file system: a plain copy
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)


def study_dataset(patient_dir: Path, folder: Path) -> Path:
    """A dataset root with two full-size patients (the bench patient twice, hard-linked when possible)."""
    root = folder / "ds"
    root.mkdir(parents=True)
    for f in patient_dir.parent.iterdir():
        if f.is_file() and not f.name.startswith("."):
            shutil.copy2(f, root / f.name)
    second = patient_dir.name[:-4] + f"{int(patient_dir.name[-4:]) + 1:04d}"
    _link_tree(patient_dir, root / patient_dir.name)
    _link_tree(patient_dir, root / second)
    for f in root.glob("missingStructures_*.json"):
        d = json.loads(f.read_text())
        if patient_dir.name in d:
            d[second] = d[patient_dir.name]
            f.write_text(json.dumps(d))
    return root


def run(patient_dir: Path, repeat: int) -> Samples:
    """study_case_switch_s and study_save_stall_ms."""
    from ..study import InitOptions, init_study

    switch, stall = [], []
    for _ in range(repeat):
        tmp = Path(tempfile.mkdtemp(prefix="lp-bench-study-"))
        try:
            root = study_dataset(patient_dir, tmp)
            init_study(tmp / "study", InitOptions(dataset_root=root, observers=["obsBench"], seed=1, washout_days=0))
            env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LUNDPROBE_DATA=str(tmp / "data"))
            out = subprocess.run(
                [sys.executable, "-c", _PROBE, str(tmp / "study")], capture_output=True, text=True, check=True, env=env
            ).stdout
            row = json.loads(out.strip().splitlines()[-1])
            switch += row["switch"]
            stall.append(max(row["stall"]))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return {"study_case_switch_s": (switch, "s"), "study_save_stall_ms": (stall, "ms")}
