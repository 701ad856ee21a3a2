"""Which patients of a dataset root can take part: those with every study structure in the start source."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..core.names import InvalidName, validate_data_name
from ..io.lundprobe import MRI_DIR
from ..io.open import NoImageError, list_patients, open_patient

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Eligibility:
    """Whether a patient can take part, and why not."""

    patient: str
    ok: bool
    reason: str = ""


def check_patient(
    root: Path, patient: str, structures: Iterable[str], start_source: str, frame: str = "MRI"
) -> Eligibility:
    """Check one patient folder (headers only)."""
    try:
        validate_data_name(patient, "patient ID")
    except InvalidName as e:
        return Eligibility(patient, False, str(e))
    folder = Path(root) / patient
    if not folder.is_dir():
        return Eligibility(patient, False, f"no folder {folder}")
    try:
        p = open_patient(folder)
    except NoImageError as e:
        return Eligibility(patient, False, str(e))
    if frame not in p.frames:
        return Eligibility(patient, False, f"no {frame} frame")
    have = {r.name for r in p.structures(frame=frame, source=start_source)}
    missing = [s for s in structures if s not in have]
    if missing:
        return Eligibility(patient, False, f"no {start_source} mask for {', '.join(missing)}")
    return Eligibility(patient, True)


def eligible_patients(
    root: Path, structures: Iterable[str], start_source: str, frame: str = "MRI"
) -> tuple[list[str], list[Eligibility]]:
    """All patient folders of a dataset root that have the start masks, and the ones left out."""
    structures = list(structures)
    ok: list[str] = []
    skipped: list[Eligibility] = []
    for entry in list_patients(root):
        # The DL masks exist only in the extended part: skip the base part's folders without
        # opening them, since discovery reads dozens of headers per patient.
        if start_source == "nnUNet" and not (entry.path / MRI_DIR / "nnUNetOutput").is_dir():
            skipped.append(Eligibility(entry.patient_id, False, "no nnUNetOutput folder"))
            continue
        e = check_patient(root, entry.patient_id, structures, start_source, frame)
        (ok.append(e.patient) if e.ok else skipped.append(e))
    return ok, skipped
