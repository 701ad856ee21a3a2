"""Batch analysis of whole datasets: one function per patient, on any scheduler, with a result cache.

* :mod:`.patient`: :func:`analyse_patient`, the one function every patient goes through.
* :mod:`.run`: :func:`run_batch`, the patients of a run in order, from the cache or computed.
* :mod:`.cache`: the per-patient result cache keyed by the input files.
* :mod:`.cluster`: the ``dask.distributed`` side (imported only when a run needs it).
"""

from __future__ import annotations

from .cache import ResultCache, fingerprint
from .patient import PatientResult, analyse_patient
from .run import BatchStatus, InputError, resolve_patients, run_batch

__all__ = [
    "BatchStatus",
    "InputError",
    "PatientResult",
    "ResultCache",
    "analyse_patient",
    "fingerprint",
    "resolve_patients",
    "run_batch",
]
