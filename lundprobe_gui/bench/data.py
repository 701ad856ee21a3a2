"""The full-size extended synthetic patient the benchmarks run on, generated once into the cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..demo import ensure_demo, ensure_demo_cohort

COHORT_SIZE = 10
"""Patients of the bench cohort (the correction figures are medians over it)."""


def bench_patient(progress: Callable[[str], None] | None = None) -> Path:
    """Path of the full-size extended patient (1024x682x88 MRI, ~57 files)."""
    return ensure_demo(size="full", part="extended", seed=0, progress=progress)


def bench_cohort(progress: Callable[[str], None] | None = None, patients: int = COHORT_SIZE) -> list[Path]:
    """Folders of the full-size extended cohort (generated once into the cache, about 30 s a patient)."""
    return ensure_demo_cohort(patients, size="full", part="extended", seed=0, progress=progress)
