"""The full-size extended synthetic patient the benchmarks run on, generated once into the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..demo import ensure_demo


def bench_patient(progress: Callable[[str], None] | None = None) -> Path:
    """Path of the full-size extended patient (1024x682x88 MRI, ~57 files)."""
    return ensure_demo(size="full", part="extended", seed=0, progress=progress)
