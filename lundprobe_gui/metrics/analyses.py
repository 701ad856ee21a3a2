"""The analyses of one patient that the batch commands run: metrics, DVH and uncertainty-versus-edits.

Each analysis is a small frozen dataclass holding its parameters. It pickles, so the same object
runs in this process, on a local worker process or on a Dask worker, and its
:meth:`~MetricsAnalysis.cache_key` (name and parameters) keys the per-patient result cache.
``analysis.run(patient)`` gives an :class:`Outcome`:

``ok``
    Rows, possibly with warnings (a mask that could not be decoded leaves out its rows only).
``empty``
    Nothing to compute for this patient (no DL or observer masks, no dose...): not an error.
``failed``
    An error kept the patient from giving its rows: there was work to do, and none of it could be done.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

from .compare import DEFAULT_TOLERANCE_MM, METRICS_ROW_KEYS, compare_patient, patient_comparisons
from .dvh_rows import DVH_ROW_KEYS, dvh_row, dvh_structures, patient_dvhs
from .edit_rows import EDIT_ROW_KEYS, edit_jobs, patient_edit_rows

if TYPE_CHECKING:
    from ..core.patient import Patient

logger = logging.getLogger(__name__)

OK, EMPTY, FAILED = "ok", "empty", "failed"


@dataclass
class Outcome:
    """What one analysis gave for one patient.

    Attributes
    ----------
    status : str
        ``ok``, ``empty`` or ``failed``.
    rows : list of dict
        In the analysis's fixed order.
    warnings : list of str
        Inputs left out, each prefixed with the patient ID.
    reason : str
        Why the patient failed or had nothing to compute; empty when ``ok``.
    """

    status: str
    rows: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict:
        """JSON-ready form (the cache stores it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Outcome:
        """Inverse of :meth:`to_dict`."""
        return cls(str(d["status"]), list(d["rows"]), [str(w) for w in d["warnings"]], str(d.get("reason", "")))


def outcome_of(patient: Patient, rows: list[dict], warnings: list[str], had_work: bool, nothing: str) -> Outcome:
    """``ok`` with rows; ``failed`` when there was work and errors left no row; else ``empty``."""
    if rows:
        return Outcome(OK, rows, warnings)
    if had_work:
        reason = "; ".join(warnings) or "no row could be computed"
        return Outcome(FAILED, [], warnings, reason)
    return Outcome(EMPTY, [], [*warnings, f"{patient.id}: {nothing}"], nothing)


class Analysis(Protocol):
    """One analysis of a patient (see the module docstring)."""

    name: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]

    def cache_key(self) -> dict:
        """Name and parameters: everything besides the input files that decides the rows."""
        ...

    def run(self, patient: Patient) -> Outcome:
        """Rows of one patient."""
        ...


@dataclass(frozen=True)
class MetricsAnalysis:
    """The comparison set of a patient (:mod:`lundprobe_gui.metrics.compare`).

    Attributes
    ----------
    tolerance_mm : float
        Surface Dice tolerance.
    kinds : tuple of str, optional
        Only these comparison kinds (:data:`~lundprobe_gui.metrics.compare.KINDS`; default all).
    arms : tuple of (str, int, str)
        ``(observer, step, arm)`` of every observer's steps. Empty (the default): ``inter_observer``
        pairs the observers within a step. Given (a crossover): within an arm, whatever the step.
    """

    name: ClassVar[str] = "metrics"
    columns: ClassVar[tuple[str, ...]] = METRICS_ROW_KEYS
    tolerance_mm: float = DEFAULT_TOLERANCE_MM
    kinds: tuple[str, ...] | None = None
    arms: tuple[tuple[str, int, str], ...] = ()

    def cache_key(self) -> dict:
        """Name and parameters (the arms only when given: entries paired by step keep their key)."""
        key: dict = {"analysis": self.name, "tolerance_mm": float(self.tolerance_mm)}
        if self.kinds is not None:
            key["kinds"] = sorted(self.kinds)
        if self.arms:
            key["inter_observer_by"] = "arm"
            key["arms"] = [list(a) for a in sorted(self.arms)]
        return key

    def run(self, patient: Patient) -> Outcome:
        """Every pair of the comparison set; the pairs of a mask that cannot be decoded are left out."""
        comps = patient_comparisons(patient, arm_of={(o, k): a for o, k, a in self.arms} if self.arms else None)
        if self.kinds is not None:
            comps = [c for c in comps if c.kind in self.kinds]
        warnings: list[str] = []
        rows = compare_patient(patient, comps, self.tolerance_mm, warnings=warnings)
        skipped = len(comps) - len(rows)
        if skipped:
            warnings.append(f"{patient.id}: {skipped} pair(s) skipped because a mask could not be loaded")
        return outcome_of(patient, rows, warnings, bool(comps), "nothing to compare (no nnUNet or observer masks)")


@dataclass(frozen=True)
class DvhAnalysis:
    """DVH rows of every structure of every dose frame (:mod:`lundprobe_gui.metrics.dvh_rows`).

    Attributes
    ----------
    prescription_gy : float or None
        Prescription for V95 and V100; None takes the patient's own (LUND-PROBE 42.7 Gy, the RTPLAN's
        for DICOM, else the dose maximum with a warning: ``Patient.effective_prescription``).
    frames : tuple of str, optional
        Only these frames (default every frame with a dose on its own grid).
    sources : tuple of str, optional
        Only structures from these sources.
    """

    name: ClassVar[str] = "dvh"
    columns: ClassVar[tuple[str, ...]] = DVH_ROW_KEYS
    prescription_gy: float | None = None
    frames: tuple[str, ...] | None = None
    sources: tuple[str, ...] | None = None

    def cache_key(self) -> dict:
        """Name and parameters."""
        return {
            "analysis": self.name,
            "prescription_gy": None if self.prescription_gy is None else float(self.prescription_gy),
            "frames": None if self.frames is None else list(self.frames),
            "sources": None if self.sources is None else sorted(self.sources),
            "columns": list(self.columns),  # rows cached before a column was added are not reused
        }

    def run(self, patient: Patient) -> Outcome:
        """One row per structure and dose frame."""
        refs = dvh_structures(patient, self.frames, self.sources)
        if not refs:
            why = (
                "no dose on the grid of a frame with structures"
                if not dvh_structures(patient, self.frames)
                else "no structure from the requested sources"
            )
            return outcome_of(patient, [], [], False, f"no DVH: {why}")
        rx = self.prescription_gy
        warnings: list[str] = []
        if rx is None:
            rx = patient.effective_prescription()
            if patient.prescription_gy is None:
                warnings.append(f"{patient.id}: no prescription in the data; V95/V100 use the dose maximum {rx:g} Gy")
        dvhs, more = patient_dvhs(patient, refs, rx)
        rows = [dvh_row(patient.id, d.key, d.dvh, d.dose) for d in dvhs]
        return outcome_of(patient, rows, warnings + more, True, "")


@dataclass(frozen=True)
class EditsAnalysis:
    """Uncertainty-versus-edits histogram rows of every observer mask (:mod:`lundprobe_gui.metrics.edit_rows`)."""

    name: ClassVar[str] = "uncertainty-edits"
    columns: ClassVar[tuple[str, ...]] = EDIT_ROW_KEYS

    def cache_key(self) -> dict:
        """Name (the bins are fixed)."""
        return {"analysis": self.name}

    def run(self, patient: Patient) -> Outcome:
        """Ten rows per observer mask of a DL structure with an uncertainty map."""
        jobs = edit_jobs(patient)
        rows, warnings = patient_edit_rows(patient, jobs) if jobs else ([], [])
        return outcome_of(
            patient, rows, warnings, bool(jobs), "no observer edits of a DL structure with an uncertainty map"
        )
