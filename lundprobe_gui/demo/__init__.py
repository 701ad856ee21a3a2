"""Synthetic LUND-PROBE patients (deterministic from a seed)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from ..io.writer import atomic_write
from ..paths import demo_patient_dir
from .generator import DemoOptions, generate, patient_id

logger = logging.getLogger(__name__)

__all__ = ["DemoOptions", "generate", "patient_id", "ensure_demo"]


def ensure_demo(
    size: str = "small", part: str = "extended", seed: int = 0, progress: Callable[[str], None] | None = None
) -> Path:
    """The cached demo patient folder, generated on first use.

    A finished dataset is marked with a ``.complete`` file, so an interrupted generation is redone
    rather than opened half-written.
    """
    root = demo_patient_dir(size, part, seed)
    marker = root / ".complete"
    if not marker.exists():
        logger.info("generating the %s demo patient into %s", size, root)
        generate(root, DemoOptions(patients=1, part=part, size=size, seed=seed), progress)
        atomic_write(marker, b"ok\n")
    return root / patient_id(part, 0)
