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
    per uncertainty bin). Given the arm of each observer's steps (a crossover, where a step mixes
    the arms), the observers are grouped by arm instead: each group is the work done in one arm,
    whatever the step; its rows carry ``arm``, an observer's row its own ``step`` and the group's
    rows (the DL mask, ``variability``, ``variability_bins``) no step.
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
    "arm",
)
"""Keys of the agreement rows (a row fills the keys of its ``table``; the others are None).

``arm`` is filled when the analysis groups by arm; grouped by step it is None (the report fills in
the step's arm)."""


def _keys(patient_id: str, structure: str, observer: str | None, step: int | None, source: str | None) -> dict:
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
    """STAPLE consensus and inter-observer variability per structure and step, or arm (see the module docstring).

    Attributes
    ----------
    arms : tuple of (str, int, str)
        ``(observer, step, arm)`` of every observer's steps. Empty (the default): the observers are
        grouped by step. Given: by arm, whatever the step; an observer mask whose step is not
        listed is left out.
    """

    name: ClassVar[str] = "agreement"
    columns: ClassVar[tuple[str, ...]] = AGREEMENT_ROW_KEYS
    arms: tuple[tuple[str, int, str], ...] = ()

    def cache_key(self) -> dict:
        """Name and grouping: an entry grouped otherwise (or written before the grouping was a key) is not used."""
        if not self.arms:
            return {"analysis": self.name, "group_by": "step"}
        return {"analysis": self.name, "group_by": "arm", "arms": [list(a) for a in sorted(self.arms)]}

    def run(self, patient: Patient) -> Outcome:
        """The rows of every structure and step (or arm) with two or more observer masks."""
        frame = patient.reference_frame.name
        arm_of = {(o, k): a for o, k, a in self.arms}
        groups: dict[tuple[str, int | str], list[tuple[str, int, str]]] = {}
        warnings: list[str] = []
        for ref in patient.structures(frame):
            parsed = parse_observer_source(ref.source)
            if parsed is None:
                continue
            step, obs = parsed
            if not self.arms:
                groups.setdefault((ref.name, step), []).append((obs, step, ref.source))
            elif (obs, step) in arm_of:
                groups.setdefault((ref.name, arm_of[(obs, step)]), []).append((obs, step, ref.source))
            else:
                warnings.append(f"{patient.id}: {ref.name} {ref.source}: no arm known; left out of the agreement")
        # keys of one run are all (structure, step) or all (structure, arm): they sort as today
        work = {k: sorted(v) for k, v in sorted(groups.items()) if len(v) >= 2}
        rows: list[dict] = []
        spacing = patient.frames[frame].geometry.spacing_zyx
        for (structure, group), observers in work.items():
            masks, steps = {}, {}
            for obs, step, source in observers:
                if obs in masks:
                    # one observer is one rater: a second mask of it in the same arm is not a second opinion
                    warnings.append(
                        f"{patient.id}: {structure} {source}: {obs} has another mask in arm {group}; left out"
                    )
                    continue
                try:
                    masks[obs] = patient.mask_obj(structure, source, frame)
                    steps[obs] = step
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
            where = AgreementGroup(None, str(group), steps) if self.arms else AgreementGroup(int(group), None, steps)
            rows.extend(agreement_rows(patient.id, structure, where, masks, spacing, unc, dl))
        unit = "an arm" if self.arms else "a step"
        return outcome_of(patient, rows, warnings, bool(work), f"no structure with two or more observers in {unit}")


@dataclass(frozen=True)
class AgreementGroup:
    """The observers compared with each other: one step (``arm`` None) or one arm (``step`` None).

    Attributes
    ----------
    step : int or None
        The step of the group.
    arm : str or None
        The arm of the group.
    steps : dict
        Observer to the step of its mask.
    """

    step: int | None
    arm: str | None
    steps: dict[str, int]


def agreement_rows(patient_id: str, structure: str, group: AgreementGroup, masks: dict, spacing, unc, dl) -> list[dict]:
    """The ``staple``, ``variability`` and ``variability_bins`` rows of one structure and step (or arm)."""
    a = observer_agreement(masks, spacing, unc, dl)
    blank = dict.fromkeys(AGREEMENT_ROW_KEYS)
    n = len(a.names)
    rows = []
    for i, obs in enumerate(a.names):
        k = group.steps[obs]
        rows.append(
            {
                **blank,
                **_keys(patient_id, structure, obs, k, f"step{k}_{obs}"),
                "arm": group.arm,
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
                **_keys(patient_id, structure, None, group.step, DL_SOURCE),
                "arm": group.arm,
                "table": "staple",
                "n_observers": n,
                "consensus_volume_cc": a.consensus_volume_cc,
                "dice_vs_consensus": a.dl_dice_vs_consensus,
            }
        )
    head = {**_keys(patient_id, structure, POOLED, group.step, POOLED), "arm": group.arm}
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
