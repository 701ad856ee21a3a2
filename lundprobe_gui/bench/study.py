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

from .figures import Samples


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
                [sys.executable, "-m", "lundprobe_gui.ui.bench_probe_study", str(tmp / "study")],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            ).stdout
            row = json.loads(out.strip().splitlines()[-1])
            switch += row["switch"]
            stall.append(max(row["stall"]))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return {"study_case_switch_s": (switch, "s"), "study_save_stall_ms": (stall, "ms")}
