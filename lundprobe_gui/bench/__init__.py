"""``lundprobe-gui bench``: every speed and memory figure of the project, measured by one command.

Each figure is reported as ``{median, min, max, unit}`` over N runs. Figures are grouped in
modules; a group is a function ``(patient_dir, repeat) -> dict[name, (samples, unit)]``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from .figures import Group, Samples, percentile, summarise

logger = logging.getLogger(__name__)


def groups() -> dict[str, Group]:
    """The benchmark groups in the order they run."""
    from . import batch, correction, dicom, editing, loading, metrics, study, study_report, viewer

    return {
        "loading": loading.run,
        "viewer": viewer.run,
        "editing": editing.run,
        "metrics": metrics.run,
        "study": study.run,
        "grow": correction.run_grow,
        "correction": correction.run,
        "dicom": dicom.run,
        "batch": batch.run,
        "study_report": study_report.run,
    }


def run_bench(
    patient_dir: Path, repeat: int = 5, only: list[str] | None = None, progress: Callable[[str], None] | None = None
) -> dict[str, dict]:
    """Run the groups (all, or those named in ``only``) and summarise every figure."""
    out: dict[str, dict] = {}
    for name, fn in groups().items():
        if only and name not in only:
            continue
        if progress:
            progress(f"bench: {name}")
        try:
            for fig, (samples, unit) in fn(patient_dir, repeat).items():
                out[fig] = summarise(samples, unit)
        except Exception:  # one failing group must not hide the others' figures
            logger.exception("benchmark group %s failed", name)
    return out


__all__ = ["Group", "Samples", "groups", "percentile", "run_bench", "summarise"]
