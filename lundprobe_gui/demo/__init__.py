"""Synthetic LUND-PROBE patients (deterministic from a seed)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from ..paths import demo_patient_dir
from .generator import DemoOptions, generate, patient_id

logger = logging.getLogger(__name__)

__all__ = ["DemoOptions", "generate", "patient_id", "ensure_demo", "ensure_demo_dataset"]


def ensure_demo_dataset(
    size: str = "small",
    part: str = "extended",
    seed: int = 0,
    patients: int = 1,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """The root of a cached demo dataset, generated on first use.

    A finished dataset is marked with a ``.complete`` file, so an interrupted generation is redone
    rather than opened half-written.
    """
    root = demo_patient_dir(size, part, seed, patients)
    marker = root / ".complete"
    if not marker.exists():
        logger.info("generating %d %s demo patient(s) into %s", patients, size, root)
        generate(root, DemoOptions(patients=patients, part=part, size=size, seed=seed), progress)
        marker.write_text("ok\n")
    return root


def ensure_demo(
    size: str = "small", part: str = "extended", seed: int = 0, progress: Callable[[str], None] | None = None
) -> Path:
    """The cached demo patient folder, generated on first use (see :func:`ensure_demo_dataset`)."""
    return ensure_demo_dataset(size, part, seed, 1, progress) / patient_id(part, 0)
