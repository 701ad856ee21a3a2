"""Uncertainty-guided correction figures.

``correction_interactions_manual`` / ``correction_interactions_guided``
    Median interactions the simulated corrector (:mod:`lundprobe_gui.corrector`) needs to bring
    the DL mask to a surface Dice at 2 mm of 0.95 against the step-2 observer edits of CTVT_427
    and Rectum, over the bench cohort (:func:`~lundprobe_gui.bench.data.bench_cohort`), with the
    manual tools (brush, eraser, polygon) and with the guided tools as well.
``correction_uniform_interactions_manual`` / ``..._guided``
    The same on targets that ignore the uncertainty: the DL mask shrunk uniformly by 1 mm and by 3 mm.
``correction_mean_interactions_*``, ``correction_reached_*``, ``correction_interactions_*_<structure>``
    Means, the share of cases that reached the goal within 200 interactions, and the medians of
    each structure alone. ``_guided_judged`` is the guided user who judges k on the preview
    (:mod:`lundprobe_gui.corrector.user`).
``grow_from_seeds_ms`` (and ``grow_from_seeds_random_walker_ms``)
    One seeded grow of a 60x60x20 box (x, y, z) at the edge of the prostate, seeds on three slices,
    with the default watershed (and with the random walker it was measured against); the
    ``_dice`` figures compare each result with the prostate the image was drawn from, the ``_cpu_ms``
    figures give the processor time of all threads (wall time grows with whatever else runs).

``repeat`` does not apply to the cohort figures (the simulation is deterministic); the grow
timing is repeated.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ..io.writer import atomic_write
from .figures import Samples

logger = logging.getLogger(__name__)

WORKERS = 2


def run(patient_dir: Path, repeat: int) -> Samples:
    """The correction figures over the bench cohort (``patient_dir`` is not used: the cohort is)."""
    from ..corrector import run_cohort
    from .data import bench_cohort

    cohort = bench_cohort(lambda s: logger.info("%s", s))
    result = run_cohort(cohort, workers=WORKERS)
    out: Samples = {}
    for kind, prefix in (("observer", "correction"), ("uniform", "correction_uniform")):
        for toolset in ("manual", "guided", "guided_judged"):
            rows = result.select(toolset, kind)
            if not rows:
                continue
            n = [float(r["interactions"]) for r in rows]
            out[f"{prefix}_interactions_{toolset}"] = ([float(np.median(n))], "interactions")
            out[f"{prefix}_mean_interactions_{toolset}"] = ([float(np.mean(n))], "interactions")
            out[f"{prefix}_reached_{toolset}"] = ([float(np.mean([r["reached"] for r in rows]))], "share")
            for structure in sorted({r["structure"] for r in rows}):
                m = [float(r["interactions"]) for r in rows if r["structure"] == structure]
                out[f"{prefix}_interactions_{toolset}_{structure}"] = ([float(np.median(m))], "interactions")
    report = Path(os.environ.get("LUNDPROBE_BENCH_REPORT", tempfile.gettempdir())) / "correction-cases.json"
    try:
        atomic_write(report, json.dumps({"summary": result.summary(), "rows": result.rows}, indent=1).encode())
        logger.info("correction: per-case rows in %s", report)
    except OSError as e:
        logger.warning("correction: could not write %s: %s", report, e)
    return out


def run_grow(patient_dir: Path, repeat: int) -> Samples:
    """``grow_from_seeds_ms`` and its comparison with the random walker, on the bench patient."""
    import lundprobe_gui as lp

    from ..edit.grow import INSIDE, OUTSIDE, grow_labels
    from ..metrics.overlap import dice

    patient = lp.open_patient(patient_dir, edits=False)
    truth = patient.mask_obj("CTVT_427", "clinical")
    bb = truth.bbox()
    if bb is None:
        raise RuntimeError("the bench patient has no prostate")
    z = (bb[0][0] + bb[0][1]) // 2
    y = (bb[1][0] + bb[1][1]) // 2
    x = bb[2][1]
    box = ((z - 10, z + 10), (y - 30, y + 30), (x - 30, x + 30))
    vol = patient.image()
    if vol is None:
        raise RuntimeError("the bench patient has no image")
    image = vol.read(box).astype(np.float32)
    inside = truth.read(box)
    labels = np.zeros(inside.shape, np.uint8)
    from scipy import ndimage

    for k in (4, 10, 16):
        core = ndimage.binary_erosion(inside[k], iterations=6)
        far = ~ndimage.binary_dilation(inside[k], iterations=6)
        labels[k][core & ~ndimage.binary_erosion(core)] = INSIDE
        labels[k][far & ndimage.binary_dilation(~far)] = OUTSIDE
    sp = patient.geometry.spacing_zyx
    out: Samples = {}
    for method, name in (("watershed", "grow_from_seeds"), ("random_walker", "grow_from_seeds_random_walker")):
        times, cpu, dices = [], [], []
        for _ in range(max(1, repeat)):
            t0, c0 = time.perf_counter(), time.process_time()
            grown = grow_labels(image, labels, sp, method)
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            dices.append(float(dice(inside, grown)))
        out[f"{name}_ms"] = (times, "ms")
        out[f"{name}_cpu_ms"] = (cpu, "ms")  # all threads: what it costs when other work shares the cores
        out[f"{name}_dice"] = (dices, "Dice")
    return out
