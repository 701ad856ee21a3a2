"""The study's edited masks: saving one through ``Patient.save_mask`` and recording it in the state."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from ..core.mask import Mask, union_box
from ..core.patient import Patient, StructureRef, check_binary
from ..io.nifti import load_array
from ..io.small_files import SAVED_MASK_MAX_BYTES, read_small_bytes
from ..io.store import mask_from_array
from ..io.verify import check_saved
from .clock import iso_utc
from .definition import StudyDefinition
from .errors import CorruptStudyFile, StudyError
from .files import output_root
from .state import CaseRecord
from .views import SavedEdit

logger = logging.getLogger(__name__)


def edit_counts(start: Mask, current: Mask) -> tuple[int, int]:
    """Voxels added to and removed from ``start`` in ``current`` (same grid)."""
    if start.shape != current.shape:
        raise ValueError(f"grids differ: {start.shape} vs {current.shape}")
    box = union_box(start.bbox(), current.bbox())
    if box is None:
        return 0, 0
    a, b = start.read(box), current.read(box)
    return int(np.count_nonzero(b & ~a)), int(np.count_nonzero(a & ~b))


def as_mask(mask: Mask | np.ndarray, shape: tuple[int, int, int], frame: str) -> Mask:
    """A :class:`Mask` on a grid of ``shape`` from a Mask or a full (z, y, x) array (non-zero inside)."""
    m = mask if isinstance(mask, Mask) else None
    if m is None:
        arr = np.asarray(mask)
        if arr.shape != shape:
            raise StudyError(f"the mask's shape {arr.shape} is not the {frame} grid {shape}")
        try:
            check_binary(arr, "this structure")
        except ValueError as e:
            raise StudyError(str(e)) from None
        m = Mask.from_full(arr)
    if m.shape != shape:
        raise StudyError(f"the mask's shape {m.shape} is not the {frame} grid {shape}")
    return m


def write_structure(
    study_dir: Path,
    study: StudyDefinition,
    observer: str,
    step: int,
    patient: Patient,
    pseudonym: str,
    name: str,
    mask: Mask,
    start: Mask,
    tool: str,
) -> SavedEdit:
    """Write the next version of ``mask_<name>_step<k>_<observer>`` (any thread; records nothing).

    The caller records the result in the state with :func:`record_saved` and persists the state
    afterwards: a crash in between leaves a version that is not recorded, which resuming repairs
    (see :mod:`.recovery`).
    """
    added, removed = edit_counts(start, mask)
    source = study.target_source(step, observer)
    path = patient.save_mask(
        name,
        mask,
        source=source,
        out_dir=output_root(study_dir),
        frame=study.frame,
        tool=tool,
        user=observer,
        stats={
            "voxels_added": added,
            "voxels_removed": removed,
            "start_source": study.start_source,
            "start_voxels": start.count(),
        },
        study_step=step,
        pseudonym=pseudonym,
    )
    digest = hashlib.sha256(read_small_bytes(path, SAVED_MASK_MAX_BYTES, "saved mask")).hexdigest()
    plain = path.with_name(f"mask_{name}_{source}.nii.gz")
    logger.info("%s %s: saved %s (+%d -%d voxels)", pseudonym, name, path.name, added, removed)
    return SavedEdit(name, path, plain, digest, added, removed)


def record_saved(study_dir: Path, case: CaseRecord, saved: SavedEdit, t: float) -> None:
    """Record a written version in the case (in memory)."""
    srec = case.structures[saved.structure]
    srec.output_file = str(saved.output_file.relative_to(study_dir))
    srec.output_version = str(saved.version_file.relative_to(study_dir))
    srec.output_sha256 = saved.sha256
    srec.voxels_added, srec.voxels_removed = saved.voxels_added, saved.voxels_removed
    srec.saved_at = iso_utc(t)
    srec.saves += 1


def load_saved(study_dir: Path, relative: str) -> Mask:
    """Read a recorded output version back as a :class:`Mask`."""
    path = study_dir / relative
    try:
        check_saved(path)
        arr = load_array(path)
    except Exception as e:
        raise CorruptStudyFile(f"{path}: the saved edit cannot be read ({e})") from e
    return mask_from_array(arr, str(path))[0]


def register_saved(
    patient: Patient, study_dir: Path, study: StudyDefinition, observer: str, step: int, case: CaseRecord, frame: str
) -> None:
    """Put the study's saved edits of this case and step into the patient model, as ``step<k>_<observer>``."""
    for name, srec in case.structures.items():
        if srec.output_file:
            patient.register_structure(
                StructureRef(name, study.target_source(step, observer), frame, str(study_dir / srec.output_file))
            )
