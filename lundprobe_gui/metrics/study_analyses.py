"""The per-patient analyses a reader-study report adds to metrics, DVH and uncertainty-edits.

Both are batch analyses (:mod:`lundprobe_gui.metrics.analyses`): frozen, picklable, keyed by their
parameters, run on any scheduler by :func:`~lundprobe_gui.batch.patient.analyse_patient`.

:class:`EditSplitAnalysis`
    For every observer mask of a DL structure with an uncertainty map, the edited voxels at zero,
    low (below the threshold) and high uncertainty
    (:func:`~lundprobe_gui.metrics.uncertainty_edits.edit_uncertainty_split`).
:class:`AgreementAnalysis`
    For every structure and step with two or more observers, STAPLE and the voxel-wise
    variability (:mod:`lundprobe_gui.metrics.agreement`). Rows of three tables, told apart by the
    ``table`` column: ``staple`` (one row per observer, and one for the DL mask against the
    consensus), ``variability`` (one row per structure and step) and ``variability_bins`` (one row
    per uncertainty bin).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from .agreement import observer_agreement
from .analyses import Outcome, outcome_of
from .compare import DL_SOURCE, ROW_ID_KEYS, parse_observer_source
from .edit_rows import POOLED, edit_jobs
from .uncertainty_edits import edit_uncertainty_split

if TYPE_CHECKING:
    from ..core.patient import Patient

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.15
"""The low-uncertainty threshold of the report (``--threshold``)."""

SPLIT_ROW_KEYS = (
    *ROW_ID_KEYS,
    "threshold",
    "edited_voxels",
    "edited_zero",
    "edited_low",
    "edited_high",
    "total_zero",
    "total_low",
    "total_high",
)
"""Keys of one edit-split row."""

AGREEMENT_ROW_KEYS = (
    *ROW_ID_KEYS,
    "table",
    "n_observers",
    "volume_cc",
    "consensus_volume_cc",
    "dice_vs_consensus",
    "staple_sensitivity",
    "staple_specificity",
    "region_voxels",
    "mean_variability",
    "spearman_rho",
    "spearman_p",
    "pearson_r",
    "bin_low",
    "bin_high",
    "voxels",
    "variability_sum",
    "disagreement_voxels",
)
"""Keys of the agreement rows (a row fills the keys of its ``table``; the others are None)."""


def _keys(patient_id: str, structure: str, observer: str | None, step: int, source: str | None) -> dict:
    return {"patient": patient_id, "structure": structure, "observer": observer, "step": step, "source": source}


@dataclass(frozen=True)
class EditSplitAnalysis:
    """Edited voxels at zero, low and high DL uncertainty, per observer mask.

    Attributes
    ----------
    threshold : float
        Uncertainty below it is low (default 0.15).
    """

    name: ClassVar[str] = "edit-split"
    columns: ClassVar[tuple[str, ...]] = SPLIT_ROW_KEYS
    threshold: float = DEFAULT_THRESHOLD

    def cache_key(self) -> dict:
        """Name and threshold."""
        return {"analysis": self.name, "threshold": float(self.threshold)}

    def run(self, patient: Patient) -> Outcome:
        """One row per observer mask of a DL structure with an uncertainty map."""
        jobs = edit_jobs(patient)
        rows: list[dict] = []
        warnings: list[str] = []
        for job in jobs:
            unc = patient.uncertainty(job.structure, job.frame)
            if unc is None or not patient.load_volume(unc):
                warnings.append(f"{patient.id}: no usable uncertainty map for {job.structure}; {job.source} left out")
                continue
            try:
                dl = patient.mask_obj(job.structure, DL_SOURCE, job.frame)
                edited = patient.mask_obj(job.structure, job.source, job.frame)
            except (KeyError, ValueError) as e:
                warnings.append(f"{patient.id}: {job.structure} {job.source} left out: {e}")
                continue
            split = edit_uncertainty_split(dl, edited, unc, self.threshold)
            rows.append({**_keys(patient.id, job.structure, job.observer, job.step, job.source), **split.to_dict()})
        return outcome_of(
            patient, rows, warnings, bool(jobs), "no observer edits of a DL structure with an uncertainty map"
        )


@dataclass(frozen=True)
class AgreementAnalysis:
    """STAPLE consensus and inter-observer variability per structure and step (see the module docstring)."""

    name: ClassVar[str] = "agreement"
    columns: ClassVar[tuple[str, ...]] = AGREEMENT_ROW_KEYS

    def cache_key(self) -> dict:
        """Name (no parameters)."""
        return {"analysis": self.name}

    def run(self, patient: Patient) -> Outcome:
        """The rows of every structure and step with two or more observer masks."""
        frame = patient.reference_frame.name
        groups: dict[tuple[str, int], list[tuple[str, str]]] = {}
        for ref in patient.structures(frame):
            parsed = parse_observer_source(ref.source)
            if parsed is not None:
                groups.setdefault((ref.name, parsed[0]), []).append((parsed[1], ref.source))
        rows: list[dict] = []
        warnings: list[str] = []
        work = {k: sorted(v) for k, v in sorted(groups.items()) if len(v) >= 2}
        spacing = patient.frames[frame].geometry.spacing_zyx
        for (structure, step), observers in work.items():
            masks = {}
            for obs, source in observers:
                try:
                    masks[obs] = patient.mask_obj(structure, source, frame)
                except (KeyError, ValueError) as e:
                    warnings.append(f"{patient.id}: {structure} {source} left out of the agreement: {e}")
            if len(masks) < 2:
                continue
            unc = patient.uncertainty(structure, frame)
            if unc is not None and not patient.load_volume(unc):
                unc = None
            try:
                dl = patient.mask_obj(structure, DL_SOURCE, frame)
            except (KeyError, ValueError):
                dl = None
            rows.extend(agreement_rows(patient.id, structure, step, masks, spacing, unc, dl))
        return outcome_of(patient, rows, warnings, bool(work), "no structure with two or more observers in a step")


def agreement_rows(patient_id: str, structure: str, step: int, masks: dict, spacing, unc, dl) -> list[dict]:
    """The ``staple``, ``variability`` and ``variability_bins`` rows of one structure and step."""
    a = observer_agreement(masks, spacing, unc, dl)
    blank = dict.fromkeys(AGREEMENT_ROW_KEYS)
    n = len(a.names)
    rows = []
    for i, obs in enumerate(a.names):
        rows.append(
            {
                **blank,
                **_keys(patient_id, structure, obs, step, f"step{step}_{obs}"),
                "table": "staple",
                "n_observers": n,
                "volume_cc": a.volume_cc[i],
                "consensus_volume_cc": a.consensus_volume_cc,
                "dice_vs_consensus": a.dice_vs_consensus[i],
                "staple_sensitivity": a.sensitivity[i],
                "staple_specificity": a.specificity[i],
            }
        )
    if a.dl_dice_vs_consensus is not None:
        rows.append(
            {
                **blank,
                **_keys(patient_id, structure, None, step, DL_SOURCE),
                "table": "staple",
                "n_observers": n,
                "consensus_volume_cc": a.consensus_volume_cc,
                "dice_vs_consensus": a.dl_dice_vs_consensus,
            }
        )
    head = _keys(patient_id, structure, POOLED, step, POOLED)
    rows.append(
        {
            **blank,
            **head,
            "table": "variability",
            "n_observers": n,
            "region_voxels": a.region_voxels,
            "mean_variability": a.mean_variability,
            "spearman_rho": a.spearman_rho,
            "spearman_p": a.spearman_p,
            "pearson_r": a.pearson_r,
        }
    )
    rows.extend({**blank, **head, "table": "variability_bins", "n_observers": n, **b} for b in a.bins)
    return rows
