"""Placeholder group: figures are added with the feature they measure."""
from __future__ import annotations

from pathlib import Path

from . import Samples


def run(patient_dir: Path, repeat: int) -> Samples:
    """No figures yet."""
    return {}
