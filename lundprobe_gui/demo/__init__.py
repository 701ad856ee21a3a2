"""Synthetic LUND-PROBE patients (deterministic from a seed)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from ..io.writer import atomic_write
from ..paths import demo_patient_dir
from .generator import DemoOptions, generate, patient_id

logger = logging.getLogger(__name__)

__all__ = ["DemoOptions", "generate", "patient_id", "ensure_demo", "ensure_demo_cohort"]


def ensure_demo(
    size: str = "small", part: str = "extended", seed: int = 0, progress: Callable[[str], None] | None = None
) -> Path:
    """The cached demo patient folder, generated on first use.

    A finished dataset is marked with a ``.complete`` file, so an interrupted generation is redone
    rather than opened half-written.
    """
    return ensure_demo_cohort(1, size, part, seed, progress)[0]


def ensure_demo_cohort(
    patients: int,
    size: str = "small",
    part: str = "extended",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """The cached demo dataset of ``patients`` patients (generated on first use); their folders.

    One patient lives where :func:`ensure_demo` keeps it; larger cohorts get their own folder.
    """
    root = demo_patient_dir(size, part, seed)
    if patients != 1:
        root = root.with_name(f"{root.name}-n{patients}")
    marker = root / ".complete"
    if not marker.exists():
        logger.info("generating %d %s demo patients into %s", patients, size, root)
        generate(root, DemoOptions(patients=patients, part=part, size=size, seed=seed), progress)
        atomic_write(marker, b"ok\n")
    return [root / patient_id(part, i) for i in range(patients)]
