"""Viewer figures: first image, loading in the window, slice change (key press to painted frame),
window/level frame rate, and the first image of a first run (the demo patient not generated yet).

Each repeat runs in a fresh process with the offscreen Qt platform, on the full-size patient.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .figures import Samples, percentile


def probe_env(scratch: str, **extra: str) -> dict[str, str]:
    """The environment of a probe: offscreen, the user's autosaves and settings out of reach (in ``scratch``).

    The bench patient is the demo patient: a recovery file the user's own session left for it would
    otherwise stop the probe at the "Restore unsaved edits?" prompt.
    """
    return dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        LUNDPROBE_DATA=os.path.join(scratch, "data"),
        XDG_CONFIG_HOME=os.path.join(scratch, "config"),
        **extra,
    )


def first_run(repeat: int) -> list[float]:
    """Seconds from opening to the first image on a first run (no demo patient cached), each in a fresh cache."""
    out = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="lundprobe-first-run-") as scratch:
            env = probe_env(scratch, LUNDPROBE_CACHE=os.path.join(scratch, "cache"))
            line = subprocess.run(
                [sys.executable, "-m", "lundprobe_gui.ui.bench_probe_viewer", "--first-run"],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            ).stdout
            out.append(json.loads(line.strip().splitlines()[-1])["first_run_image_s"])
    return out


def run(patient_dir: Path, repeat: int) -> Samples:
    """first_image_s, window_all_layers_s, loading_stall_max_ms, slice_change_ms, slice_change_p95_ms,
    window_level_fps, first_run_image_s."""
    rows = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="lundprobe-viewer-") as scratch:
            out = subprocess.run(
                [sys.executable, "-m", "lundprobe_gui.ui.bench_probe_viewer", str(patient_dir)],
                capture_output=True,
                text=True,
                check=True,
                env=probe_env(scratch),
            ).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    median = [sorted(r["slice_ms"])[len(r["slice_ms"]) // 2] for r in rows]
    return {
        "first_image_s": ([r["first_image_s"] for r in rows], "s"),
        "window_all_layers_s": ([r["window_all_layers_s"] for r in rows], "s"),
        "loading_stall_max_ms": ([r["loading_stall_ms"] for r in rows], "ms"),
        "slice_change_ms": (median, "ms"),
        "slice_change_p95_ms": ([percentile(r["slice_ms"], 95) for r in rows], "ms"),
        "window_level_fps": ([r["window_level_fps"] for r in rows], "fps"),
        "first_run_image_s": (first_run(repeat), "s"),
    }
