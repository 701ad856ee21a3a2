"""Which patients of a dataset root can take part: those with every study structure in the start source."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..core.names import InvalidName, validate_data_name
from ..io.lundprobe import MRI_DIR
from ..core.patient import Patient
from ..io.open import NoImageError, list_patients, open_patient, unreadable_folders

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
    if not os.path.isdir(folder):
        return Eligibility(patient, False, f"no folder {folder}")
    try:
        p = open_patient(folder, edits=False)
    except Exception as e:  # noqa: BLE001 - whatever stops it, the patient is left out with the reason
        return Eligibility(patient, False, str(e) if isinstance(e, NoImageError) else f"cannot be opened: {e}")
    if frame not in p.frames:
        why = [str(x) for x in p.problems if x.kind in ("unreadable", "missing", "corrupt")][:2]
        return Eligibility(patient, False, f"no {frame} frame" + (f" ({'; '.join(why)})" if why else ""))
    have = {r.name for r in p.structures(frame=frame, source=start_source)}
    missing = [s for s in structures if s not in have]
    if missing:
        return Eligibility(patient, False, "; ".join(_why_missing(p, s, start_source) for s in missing))
    return Eligibility(patient, True)


def _why_missing(patient: Patient, structure: str, source: str) -> str:
    """Why a patient has no usable ``source`` mask of ``structure``: the problem of its file, when there is one."""
    stem = f"mask_{structure}_{source}" if source != "clinical" else f"mask_{structure}"
    for prob in patient.problems:
        name = Path(prob.path).name
        if name.startswith(stem + ".nii") or (prob.kind == "unreadable" and Path(prob.path) in _folders_of(patient)):
            return f"the {source} mask of {structure} is unusable ({prob})"
    if structure in patient.missing:
        return f"no {source} mask for {structure} (listed as expected-missing)"
    return f"no {source} mask for {structure}"


def _folders_of(patient: Patient) -> set[Path]:
    mri = patient.path / MRI_DIR
    return {mri, mri / "nnUNetOutput", mri / "nnUNetOutput" / "folds", mri / "observerData"}


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
        nnunet = entry.path / MRI_DIR / "nnUNetOutput"
        if start_source == "nnUNet" and not os.path.lexists(nnunet):
            skipped.append(Eligibility(entry.patient_id, False, f"no {MRI_DIR}/nnUNetOutput folder (base part)"))
            continue
        e = check_patient(root, entry.patient_id, structures, start_source, frame)
        (ok.append(e.patient) if e.ok else skipped.append(e))
    for folder in unreadable_folders(root):
        e = check_patient(root, folder.name, structures, start_source, frame)
        skipped.append(e)
    skipped.sort(key=lambda e: e.patient)
    return ok, skipped
