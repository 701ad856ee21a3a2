"""The full-size extended synthetic patient the benchmarks run on, generated once into the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..demo import ensure_demo, ensure_demo_dataset


def bench_patient(progress: Callable[[str], None] | None = None) -> Path:
    """Path of the full-size extended patient (1024x682x88 MRI, ~57 files)."""
    return ensure_demo(size="full", part="extended", seed=0, progress=progress)


BATCH_PATIENTS = 8
"""Patients of the dataset the batch figures run on."""


def bench_dataset(progress: Callable[[str], None] | None = None) -> Path:
    """Root of :data:`BATCH_PATIENTS` full-size extended patients (~1.2 GB, generated once into the cache)."""
    return ensure_demo_dataset(size="full", part="extended", seed=0, patients=BATCH_PATIENTS, progress=progress)
