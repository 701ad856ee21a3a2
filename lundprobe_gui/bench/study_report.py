"""The report of a synthetic reader study: ``lundprobe-gui study report`` as a user runs it.

The study has :data:`PATIENTS` small-grid extended patients (the demo generator's ``small`` size,
cached) x :data:`OBSERVERS` observers x 2 steps x 2 structures (CTVT_427 and Rectum), run once
through the observer API (:func:`~lundprobe_gui.study.simulate.simulate_study`) and kept in the
cache. The report runs in a child process with its progress bar, on a local cluster with one worker
per core, without the result cache (``--fresh``), 2000 bootstrap resamples.

``study_report_s``
    Wall time of the command, start to exit (target: at most 5 minutes on 2 cores).
``study_report_peak_rss_mb``
    The largest peak resident memory of the command's process and its workers (budget 2 GB).
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .figures import Samples

logger = logging.getLogger(__name__)

PATIENTS = 35
OBSERVERS = ("obs1", "obs2", "obs3", "obs4")
_DONE = ".bench-complete"


def bench_study(progress=None) -> Path:
    """The cached simulated study (generated on first use, about 4 minutes)."""
    from ..demo import ensure_demo_cohort
    from ..io.writer import atomic_write
    from ..paths import user_cache_dir
    from ..study.simulate import simulate_study

    folders = ensure_demo_cohort(PATIENTS, size="small", part="extended", seed=0, progress=progress)
    root = folders[0].parent
    study = user_cache_dir() / "bench" / f"study-{PATIENTS}x{len(OBSERVERS)}"
    if (study / _DONE).is_file():
        return study
    shutil.rmtree(study, ignore_errors=True)  # a run that was stopped half-way
    study.parent.mkdir(parents=True, exist_ok=True)
    logger.info("simulating a %d-patient, %d-observer study into %s", PATIENTS, len(OBSERVERS), study)
    simulate_study(root, study, observers=OBSERVERS, seed=0)
    atomic_write(study / _DONE, b"complete\n")
    return study


def _children_peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run(patient_dir: Path, repeat: int) -> Samples:
    """The study report figures (``patient_dir`` is unused: the group runs on its own study)."""
    study = bench_study()
    times, peak = [], 0.0
    for _ in range(max(1, min(repeat, 3))):  # minutes a run: three samples are enough
        with tempfile.TemporaryDirectory(prefix="lundprobe-bench-report-") as tmp:
            cmd = [sys.executable, "-m", "lundprobe_gui", "study", "report", str(study), "--out", f"{tmp}/report"]
            cmd += ["--scheduler", "processes", "--fresh", "--cache", f"{tmp}/cache"]
            t0 = time.perf_counter()
            r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ})
            dt = time.perf_counter() - t0
            if r.returncode != 0:
                raise RuntimeError(f"study report bench: the report failed (exit {r.returncode})")
        times.append(dt)
        peak = max(peak, _children_peak_mb())
        logger.info("study report bench: %.1f s", dt)
    return {"study_report_s": (times, "s"), "study_report_peak_rss_mb": ([peak], "MB")}
