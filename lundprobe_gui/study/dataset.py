"""Which patients of a dataset root can take part: those with every study structure in the start source.

A step that shows the uncertainty map also needs each structure's map: a patient without one is
left out (or, when the study allows it, taken in and recorded). The files a case shows are
listed with their sha256, so a copy of the dataset on another computer can be checked.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..core.names import InvalidName, validate_data_name
from ..core.patient import Patient
from ..io.lundprobe import MRI_DIR
from ..io.open import NoImageError, list_patients, open_patient, unreadable_folders
from .visibility import is_fold_source

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Eligibility:
    """Whether a patient can take part, and why not.

    ``no_uncertainty``: the study structures without an uncertainty map; ``no_folds``: those without
    any cross-validation fold mask (looked for only when an arm shows the folds); ``files``: the
    files a case shows (MRI, start masks, uncertainty maps, dose, and the folds when an arm shows
    them), relative to the patient folder.
    """

    patient: str
    ok: bool
    reason: str = ""
    no_uncertainty: tuple[str, ...] = ()
    files: tuple[str, ...] = field(default_factory=tuple)
    no_folds: tuple[str, ...] = ()


def file_digest(path: Path) -> dict:
    """``{"sha256", "size"}`` of a file, read in 1 MB blocks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return {"sha256": h.hexdigest(), "size": size}


def check_patient(
    root: Path, patient: str, structures: Iterable[str], start_source: str, frame: str = "MRI", folds: bool = False
) -> Eligibility:
    """Check one patient folder (headers only); with ``folds``, also its fold masks (an arm shows them)."""
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
    if "image" not in p.frames[frame].images:  # nothing to contour on, whatever the masks
        image = str(p.path / p.frames[frame].folder / "image.nii.gz")
        why = [str(x) for x in p.problems if x.path == image and x.kind != "missing"][:2]
        return Eligibility(patient, False, f"no usable {frame} image" + (f" ({'; '.join(why)})" if why else ""))
    structures = list(structures)
    have = {r.name for r in p.structures(frame=frame, source=start_source)}
    missing = [s for s in structures if s not in have]
    if missing:
        return Eligibility(patient, False, "; ".join(_why_missing(p, s, start_source) for s in missing))
    fr = p.frames[frame]
    no_unc = tuple(s for s in structures if s not in fr.uncertainty)
    paths: list[str | Path] = []
    paths.extend([v.path for k, v in fr.images.items() if k == "image" or len(fr.images) == 1][:1])
    paths.extend(fr.structures[(s, start_source)].path for s in structures)
    paths.extend(fr.uncertainty[s].path for s in structures if s in fr.uncertainty)
    paths.extend(v.path for v in fr.doses.values())
    fold_refs = [r for r in fr.structures.values() if folds and r.name in structures and is_fold_source(r.source)]
    no_folds = tuple(s for s in structures if folds and not any(r.name == s for r in fold_refs))
    paths.extend(r.path for r in fold_refs)
    files = tuple(sorted({os.path.relpath(str(x), str(folder)).replace(os.sep, "/") for x in paths}))
    return Eligibility(patient, True, "", no_unc, files, no_folds)


def _why_missing(patient: Patient, structure: str, source: str) -> str:
    """Why a patient has no usable ``source`` mask of ``structure``: the problem of its file, when there is one."""
    stem = f"mask_{structure}_{source}" if source != "clinical" else f"mask_{structure}"
    for prob in patient.problems:
        name = Path(prob.path).name
        if name.startswith(stem + ".") or (prob.kind == "unreadable" and Path(prob.path) in _folders_of(patient)):
            return f"the {source} mask of {structure} is unusable ({prob})"
    if structure in patient.missing:
        return f"no {source} mask for {structure} (listed as expected-missing)"
    return f"no {source} mask for {structure}"


def _folders_of(patient: Patient) -> set[Path]:
    mri = patient.path / MRI_DIR
    return {mri, mri / "nnUNetOutput", mri / "nnUNetOutput" / "folds", mri / "observerData"}


def eligible_patients(
    root: Path,
    structures: Iterable[str],
    start_source: str,
    frame: str = "MRI",
    detail: bool = False,
    folds: bool = False,
) -> tuple[list, list[Eligibility]]:
    """All patient folders of a dataset root that have the start masks, and the ones left out.

    The first list holds patient IDs, or with ``detail`` their :class:`Eligibility`.
    """
    structures = list(structures)
    ok: list = []
    skipped: list[Eligibility] = []
    for entry in list_patients(root):
        # The DL masks exist only in the extended part: skip the base part's folders without
        # opening them, since discovery reads dozens of headers per patient.
        nnunet = entry.path / MRI_DIR / "nnUNetOutput"
        if start_source == "nnUNet" and not os.path.lexists(nnunet):
            skipped.append(Eligibility(entry.patient_id, False, f"no {MRI_DIR}/nnUNetOutput folder (base part)"))
            continue
        e = check_patient(root, entry.patient_id, structures, start_source, frame, folds)
        (ok.append(e if detail else e.patient) if e.ok else skipped.append(e))
    for folder in unreadable_folders(root):
        e = check_patient(root, folder.name, structures, start_source, frame, folds)
        skipped.append(e)
    skipped.sort(key=lambda e: e.patient)
    return ok, skipped
