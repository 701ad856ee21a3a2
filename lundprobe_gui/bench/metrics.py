"""Metric figures on the full-size extended patient.

``metrics_pair_s``
    One full :func:`~lundprobe_gui.metrics.pair.pair_metrics` call (overlap, surface distances,
    APL, volumes, centroid shift) for the larger of the two DL structures, Rectum, DL against
    ``step1_obsB``; the masks are already decoded. Budget 0.5 s.
``metrics_patient_s``
    The whole comparison set of the patient as ``lundprobe-gui metrics PATH`` computes it
    (:func:`~lundprobe_gui.batch.patient.analyse_patient`; one patient is one task, run in this
    process): opening the patient, decoding every mask the set needs and every pair's metrics.
    Budget 15 s on 2 cores.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from .figures import Samples

logger = logging.getLogger(__name__)

PAIR = ("Rectum", "nnUNet", "step1_obsB")


def run(patient_dir: Path, repeat: int) -> Samples:
    """``metrics_pair_s`` and ``metrics_patient_s``, ``repeat`` samples each."""
    import lundprobe_gui as lp

    from ..batch.patient import analyse_patient
    from ..metrics import pair_metrics
    from ..metrics.analyses import MetricsAnalysis

    patient = lp.open_patient(patient_dir, edits=False)
    name, ref, test = PAIR
    a = patient.mask_obj(name, ref)
    b = patient.mask_obj(name, test)
    spacing = patient.geometry.spacing_zyx
    pair_metrics(a, b, spacing)  # builds the surfel area table once, as any session does
    pair_s = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        pair_metrics(a, b, spacing)
        pair_s.append(time.perf_counter() - t0)

    patient_s = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        outcome = analyse_patient(patient_dir, [MetricsAnalysis()]).outcomes[MetricsAnalysis.name]
        patient_s.append(time.perf_counter() - t0)
        if not outcome.rows:
            raise RuntimeError(f"no metrics rows for {patient_dir}: {outcome.warnings}")
    logger.info("metrics bench: %d pairs per patient", len(outcome.rows))
    return {"metrics_pair_s": (pair_s, "s"), "metrics_patient_s": (patient_s, "s")}
