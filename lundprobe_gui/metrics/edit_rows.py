"""The uncertainty-versus-edits analysis of a patient, and its table rows.

For every structure with a DL mask (``nnUNet``) and a DL uncertainty map, and for every observer
mask ``step<k>_<observer>`` of that structure, the edits relative to the DL mask are binned by
the uncertainty (:func:`~lundprobe_gui.metrics.uncertainty_edits.edit_uncertainty_histogram`:
bins of 0.05 over 0-0.5). One row per bin.

Rows of several observers or patients are pooled by summing the voxel counts per bin and
recomputing the fraction (:func:`pool_edit_rows`), which is how the study's histogram pools its
readers: a large edit weighs more than a small one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .compare import DL_SOURCE, ROW_ID_KEYS, parse_observer_source
from .uncertainty_edits import (
    DEFAULT_BIN_WIDTH,
    DEFAULT_MAX_UNCERTAINTY,
    EditUncertaintyHistogram,
    edit_uncertainty_histogram,
)

if TYPE_CHECKING:
    from ..core.patient import Patient

logger = logging.getLogger(__name__)

POOLED = "all"
"""Value of the ``patient`` / ``observer`` column of a row pooled over them."""

COUNT_KEYS = ("edited_voxels", "added_voxels", "removed_voxels", "total_voxels")

EDIT_ROW_KEYS = (*ROW_ID_KEYS, "bin_low", "bin_high", *COUNT_KEYS, "fraction_edited")
"""Keys of one uncertainty-edits row, in column order."""


@dataclass(frozen=True)
class EditJob:
    """One observer mask of a structure to bin against the DL uncertainty.

    Attributes
    ----------
    structure : str
        Structure name.
    source : str
        The observer's source name, ``step<k>_<observer>``.
    step : int
        k.
    observer : str
        The observer ID, e.g. ``obsB``.
    frame : str
        Frame of the masks and the uncertainty map.
    """

    structure: str
    source: str
    step: int
    observer: str
    frame: str = "MRI"


def edit_jobs(patient: Patient, structures: Iterable[str] | None = None, frame: str | None = None) -> list[EditJob]:
    """Observer masks that can be binned: the structure has a DL mask and an uncertainty map.

    Parameters
    ----------
    patient : Patient
        The patient (headers are enough).
    structures : iterable of str, optional
        Only these structures.
    frame : str, optional
        Frame (default the reference frame).

    Returns
    -------
    list of EditJob
        By structure name, then step, then observer.
    """
    fname = frame or patient.reference_frame.name
    f = patient.frames[fname]
    wanted = set(structures) if structures is not None else None
    jobs = []
    for ref in f.structures.values():
        parsed = parse_observer_source(ref.source)
        if parsed is None or (wanted is not None and ref.name not in wanted):
            continue
        if (ref.name, DL_SOURCE) not in f.structures or ref.name not in f.uncertainty:
            continue
        jobs.append(EditJob(ref.name, ref.source, parsed[0], parsed[1], fname))
    jobs.sort(key=lambda j: (j.structure, j.step, j.observer))
    return jobs


def histogram_rows(patient_id: str, job: EditJob, hist: EditUncertaintyHistogram) -> list[dict]:
    """One row per bin (keys :data:`EDIT_ROW_KEYS`)."""
    head = {
        "patient": patient_id,
        "structure": job.structure,
        "observer": job.observer,
        "step": job.step,
        "source": job.source,
    }
    return [{**head, **b.to_dict()} for b in hist.bins]


def patient_edit_rows(
    patient: Patient,
    jobs: Sequence[EditJob] | None = None,
    bin_width: float = DEFAULT_BIN_WIDTH,
    max_uncertainty: float = DEFAULT_MAX_UNCERTAINTY,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[list[dict], list[str]]:
    """Histogram rows of a patient's observer masks.

    Parameters
    ----------
    patient : Patient
        The patient; masks and maps load on first use.
    jobs : sequence of EditJob, optional
        Default :func:`edit_jobs`.
    bin_width, max_uncertainty : float
        Bins (0.05 over 0-0.5).
    progress : callable, optional
        ``progress(done, total)`` after each job.
    should_stop : callable, optional
        Checked before each job; True returns the rows so far.

    Returns
    -------
    rows : list of dict
        Keys :data:`EDIT_ROW_KEYS`, job by job, lowest bin first.
    warnings : list of str
        One message per job left out.
    """
    jobs = list(edit_jobs(patient) if jobs is None else jobs)
    rows: list[dict] = []
    warnings: list[str] = []
    for i, job in enumerate(jobs):
        if should_stop is not None and should_stop():
            break
        unc = patient.uncertainty(job.structure, job.frame)
        if unc is None or not patient.load_volume(unc):
            warnings.append(f"{patient.id}: no usable uncertainty map for {job.structure}; {job.source} left out")
        else:
            try:
                dl = patient.mask_obj(job.structure, DL_SOURCE, job.frame)
                edited = patient.mask_obj(job.structure, job.source, job.frame)
            except (KeyError, ValueError) as e:
                warnings.append(f"{patient.id}: {job.structure} {job.source} left out: {e}")
            else:
                hist = edit_uncertainty_histogram(dl, edited, unc, bin_width, max_uncertainty)
                rows.extend(histogram_rows(patient.id, job, hist))
        if progress is not None:
            progress(i + 1, len(jobs))
    for w in warnings:
        logger.warning("%s", w)
    return rows, warnings


def pool_edit_rows(rows: Iterable[dict], over_patients: bool = True, over_observers: bool = True) -> list[dict]:
    """Sum histogram rows over patients and/or observers, per structure, step and bin.

    Parameters
    ----------
    rows : iterable of dict
        Rows with keys :data:`EDIT_ROW_KEYS`.
    over_patients : bool
        Pool the patients (their column becomes :data:`POOLED`).
    over_observers : bool
        Pool the observers (their column becomes :data:`POOLED`).

    Returns
    -------
    list of dict
        Same keys; counts summed, ``fraction_edited`` recomputed (None for an empty bin).
        Sorted by patient, structure, observer, step and bin.
    """
    groups: dict[tuple, dict] = {}
    for r in rows:
        patient = POOLED if over_patients else r["patient"]
        observer = POOLED if over_observers else r["observer"]
        key = (patient, r["structure"], observer, r["step"], r["bin_low"], r["bin_high"])
        g = groups.get(key)
        if g is None:
            g = groups[key] = {
                "patient": patient,
                "structure": r["structure"],
                "observer": observer,
                "step": r["step"],
                "source": POOLED if over_observers else r.get("source", f"step{r['step']}_{observer}"),
                "bin_low": r["bin_low"],
                "bin_high": r["bin_high"],
                **{k: 0 for k in COUNT_KEYS},
            }
        for k in COUNT_KEYS:
            g[k] += int(r[k])
    out = []
    for g in groups.values():
        g["fraction_edited"] = g["edited_voxels"] / g["total_voxels"] if g["total_voxels"] else None
        out.append(g)
    out.sort(key=lambda g: (g["patient"], g["structure"], g["observer"], g["step"], g["bin_low"]))
    return out


def side_by_side(rows: Iterable[dict]) -> tuple[list[dict], list[int]]:
    """Rows of the same patient, structure, observer and bin joined across steps.

    Parameters
    ----------
    rows : iterable of dict
        Rows with keys :data:`EDIT_ROW_KEYS` (per observer or pooled).

    Returns
    -------
    joined : list of dict
        Keys ``patient, structure, observer, bin_low, bin_high`` and, for every step k,
        ``step<k>_edited``, ``step<k>_total`` and ``step<k>_fraction`` (None where that step has
        no row). Sorted by patient, structure, observer and bin.
    steps : list of int
        The steps present, ascending.
    """
    joined: dict[tuple, dict] = {}
    steps: set[int] = set()
    for r in rows:
        key = (r["patient"], r["structure"], r["observer"], r["bin_low"], r["bin_high"])
        j = joined.setdefault(
            key,
            {
                "patient": r["patient"],
                "structure": r["structure"],
                "observer": r["observer"],
                "bin_low": r["bin_low"],
                "bin_high": r["bin_high"],
            },
        )
        k = int(r["step"])
        steps.add(k)
        j[f"step{k}_edited"] = r["edited_voxels"]
        j[f"step{k}_total"] = r["total_voxels"]
        j[f"step{k}_fraction"] = r["fraction_edited"]
    ordered = sorted(steps)
    for j in joined.values():
        for k in ordered:
            for suffix in ("edited", "total", "fraction"):
                j.setdefault(f"step{k}_{suffix}", None)
    out = sorted(joined.values(), key=lambda j: (j["patient"], j["structure"], j["observer"], j["bin_low"]))
    return out, ordered
