"""Batch throughput on a local Dask cluster: metrics plus DVH over full-size extended patients.

The dataset is the first :data:`BATCH_PATIENTS` patients of the bench cohort of full-size extended
synthetic patients (:func:`~lundprobe_gui.bench.data.bench_cohort`, generated once into the cache).
Each patient is one task that opens it once and runs
the comparison set (:class:`~lundprobe_gui.metrics.analyses.MetricsAnalysis`) and the DVHs of every
structure (:class:`~lundprobe_gui.metrics.analyses.DvhAnalysis`), exactly what ``metrics`` and
``dvh`` compute, without the result cache. The cluster is started before the clock starts, as its
start-up does not grow with the dataset.

``batch_patients_per_min``
    Patients per minute on a local cluster with one worker per core.
``batch_patients_per_min_1w``, ``batch_patients_per_min_2w``
    The same with 1 and 2 workers.
``batch_speedup_2w``
    The 2-worker figure over the 1-worker one (target: at least 1.7).
``batch_worker_peak_rss_mb``
    The largest peak resident memory of a worker process over the runs (budget 1.5 GB).
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

from .figures import Samples

logger = logging.getLogger(__name__)

BATCH_PATIENTS = 8
"""Patients the batch figures run on."""


def _throughput(patients: list[Path], workers: int, repeat: int) -> tuple[list[float], float]:
    """Patients per minute over ``repeat`` runs, and the largest worker peak RSS (MB)."""
    from ..batch.cluster import dask_client, run_on_dask
    from ..metrics.analyses import DvhAnalysis, MetricsAnalysis

    paths = [str(p) for p in patients]
    analyses = [MetricsAnalysis(), DvhAnalysis()]
    rates, peak = [], 0.0
    with dask_client("processes", workers) as client:
        for _ in range(repeat):
            t0 = time.perf_counter()
            results = [r for _, r in run_on_dask(client, [(i, p, analyses, None) for i, p in enumerate(paths)])]
            dt = time.perf_counter() - t0
            failed = [f"{r.patient_id}: {r.reason}" for r in results if r.failed]
            if failed:
                raise RuntimeError(f"batch bench: patients failed: {failed}")
            rates.append(len(paths) / dt * 60.0)
            peak = max([peak] + [r.peak_rss_mb or 0.0 for r in results])
    logger.info("batch bench: %d workers: %.2f patients/min", workers, statistics.median(rates))
    return rates, peak


def run(patient_dir: Path, repeat: int) -> Samples:
    """The batch figures (``patient_dir`` is unused: the group runs on its own dataset)."""
    from ..batch.cluster import local_cores
    from .data import bench_cohort

    patients = bench_cohort()[:BATCH_PATIENTS]
    cores = local_cores()
    rates: dict[int, list[float]] = {}
    peak = 0.0
    for workers in sorted({1, 2, cores}):
        rates[workers], p = _throughput(patients, workers, repeat)
        peak = max(peak, p)
    speedup = [b / a for a, b in zip(rates[1], rates[2])]
    return {
        "batch_patients_per_min": (rates[cores], "patients/min"),
        "batch_patients_per_min_1w": (rates[1], "patients/min"),
        "batch_patients_per_min_2w": (rates[2], "patients/min"),
        "batch_speedup_2w": (speedup, "x"),
        "batch_worker_peak_rss_mb": ([peak], "MB"),
    }
