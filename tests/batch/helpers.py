"""Helpers of the batch tests."""

from __future__ import annotations

import re
from pathlib import Path


def break_patient(patient_dir: Path) -> None:
    """Overwrite every NIfTI file of a patient with bytes that are no NIfTI, so it cannot be opened."""
    for f in sorted(patient_dir.rglob("*.nii.gz")):
        f.write_bytes(b"this is not a NIfTI file" * 10)


def counts(stderr: str) -> tuple[int, int, int]:
    """(computed, from the cache, failed) of a batch command's summary line."""
    m = re.search(r"(\d+) computed, (\d+) from the cache .*?, (\d+) failed", stderr)
    assert m, stderr
    return int(m.group(1)), int(m.group(2)), int(m.group(3))
