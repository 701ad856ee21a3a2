"""What a benchmark group returns and how its samples are summarised (the groups and the runner import this)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

Samples = dict[str, tuple[list[float], str]]
"""A group's figures: name -> (samples, unit)."""
Group = Callable[[Path, int], Samples]
"""A benchmark group: ``(patient_dir, repeat) -> Samples``."""


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    s = sorted(samples)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def summarise(samples: list[float], unit: str) -> dict:
    """``{median, min, max, unit, n}`` of a list of samples."""
    return {
        "median": round(statistics.median(samples), 4),
        "min": round(min(samples), 4),
        "max": round(max(samples), 4),
        "unit": unit,
        "n": len(samples),
    }
