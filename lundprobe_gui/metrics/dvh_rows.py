"""DVHs of a patient's structures, and their table rows.

A frame takes part when it shows a dose (``Frame.dose()``: for LUND-PROBE the
``dose_interpolated`` of MR_StorT2 and of sCT; a dose on another grid is resampled once onto the
frame's, see :mod:`lundprobe_gui.core.regrid`). Every structure of such a frame gets a DVH against
that dose, and each row names the dose it used (``"dose_original, resampled from 2.5 mm grid"``).
See :mod:`lundprobe_gui.metrics.dvh` for the definitions of the curve and the statistics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.patient import LUNDPROBE_PRESCRIPTION_GY
from ..core.regrid import resampled_note
from .compare import ROW_ID_KEYS, source_keys
from .dvh import DEFAULT_BIN_WIDTH_GY, DVH, compute_dvh

if TYPE_CHECKING:
    from ..core.patient import Patient, StructureRef

logger = logging.getLogger(__name__)

DVH_STAT_KEYS = (
    "volume_cc",
    "mean_gy",
    "max_gy",
    "min_gy",
    "d98_gy",
    "d95_gy",
    "d50_gy",
    "d2_gy",
    "v95_percent",
    "v100_percent",
)
"""The statistics columns of a DVH row."""

DVH_ROW_KEYS = (*ROW_ID_KEYS, "frame", *DVH_STAT_KEYS, "dose")
"""Keys of one DVH row, in column order."""


@dataclass(frozen=True)
class StructureDVH:
    """The DVH of one structure.

    Attributes
    ----------
    key : tuple of str
        (name, source, frame) of the structure.
    dvh : DVH
        Curve and statistics.
    dose : str
        The dose it was computed against (:func:`dose_label`).
    """

    key: tuple[str, str, str]
    dvh: DVH
    dose: str = ""


def dose_label(vol) -> str:
    """A dose layer's name, and where it was resampled from: ``"dose_original, resampled from 2.5 mm grid"``."""
    note = resampled_note(vol)
    return f"{vol.name}, {note}" if note else vol.name


def dose_frames(patient: Patient, frames: Iterable[str] | None = None) -> list[str]:
    """Frames (among ``frames``, default all) that hold a dose on their own grid, reference first."""
    names = list(frames) if frames is not None else list(patient.frames)
    ref = patient.reference_frame.name
    names.sort(key=lambda n: n != ref)  # stable: the reference frame first, the others as listed
    return [n for n in names if n in patient.frames and patient.frames[n].dose() is not None]


def dvh_structures(
    patient: Patient, frames: Iterable[str] | None = None, sources: Iterable[str] | None = None
) -> list[StructureRef]:
    """Every structure of the dose frames, optionally only from some sources.

    Parameters
    ----------
    patient : Patient
        The patient.
    frames : iterable of str, optional
        Frames to consider (default: all that have a dose).
    sources : iterable of str, optional
        Keep only these sources.

    Returns
    -------
    list of StructureRef
        Frame by frame (reference first), in the patient's structure order.
    """
    keep = set(sources) if sources is not None else None
    out: list[StructureRef] = []
    for fname in dose_frames(patient, frames):
        out.extend(r for r in patient.structures(fname) if keep is None or r.source in keep)
    return out


def dvh_row(patient_id: str, key: tuple[str, str, str], dvh: DVH, dose: str = "") -> dict:
    """One DVH table row (keys :data:`DVH_ROW_KEYS`); ``dose`` names the dose used (:func:`dose_label`)."""
    name, source, frame = key
    row: dict = {"patient": patient_id, "structure": name, **source_keys(source), "frame": frame}
    stats = dvh.stats.to_dict()
    row.update({k: stats[k] for k in DVH_STAT_KEYS})
    row["dose"] = dose
    return row


def patient_dvhs(
    patient: Patient,
    refs: Sequence[StructureRef] | None = None,
    prescription_gy: float = LUNDPROBE_PRESCRIPTION_GY,
    bin_width_gy: float = DEFAULT_BIN_WIDTH_GY,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[list[StructureDVH], list[str]]:
    """DVHs of structures of a patient, each against its frame's dose.

    Parameters
    ----------
    patient : Patient
        The patient; masks and doses load on first use.
    refs : sequence of StructureRef, optional
        Structures (default :func:`dvh_structures`).
    prescription_gy : float
        Prescription for V95 and V100.
    bin_width_gy : float
        Dose step of the curves.
    progress : callable, optional
        ``progress(done, total)`` after each structure.
    should_stop : callable, optional
        Checked before each structure; when it returns True the DVHs so far are returned.

    Returns
    -------
    dvhs : list of StructureDVH
        In the order of ``refs``.
    warnings : list of str
        One message per structure left out (undecodable mask, or a frame without a dose).
    """
    refs = list(dvh_structures(patient) if refs is None else refs)
    out: list[StructureDVH] = []
    warnings: list[str] = []
    for i, ref in enumerate(refs):
        if should_stop is not None and should_stop():
            break
        dose = patient.dose(ref.frame)
        path = None if dose is None else dose.path
        decoded = dose is None or patient.load_volume(dose)
        if dose is not None and dose.unit_problem:
            dose = None  # found not to be in Gy while loading it here
        bad = next((v for v in patient.frames[ref.frame].doses.values() if v.unit_problem), None)
        if not decoded:
            warnings.append(f"{patient.id}: the {ref.frame} dose cannot be decoded ({path})")
        elif dose is None and bad is not None:
            warnings.append(f"{patient.id}: the {ref.frame} dose {bad.path.name} is left out: {bad.unit_problem}")
        elif dose is None:
            warnings.append(f"{patient.id}: no dose on the {ref.frame} grid for {ref.name} ({ref.source})")
        else:
            try:
                mask = patient.mask_obj(ref.name, ref.source, ref.frame)
            except (KeyError, ValueError) as e:
                warnings.append(f"{patient.id}: {ref.name} ({ref.source}) left out: {e}")
            else:
                spacing = patient.frames[ref.frame].geometry.spacing_zyx
                dvh = compute_dvh(mask, dose, spacing, prescription_gy, bin_width_gy)
                out.append(StructureDVH(ref.key, dvh, dose_label(dose)))
        if progress is not None:
            progress(i + 1, len(refs))
    for w in warnings:
        logger.warning("%s", w)
    return out, warnings
