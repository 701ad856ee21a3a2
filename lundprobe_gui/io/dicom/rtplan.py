"""RT Plan: the prescription dose that becomes the 100 % isodose."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .scan import DicomFile

logger = logging.getLogger(__name__)

_STRUCTURE_PREFERENCE = ("SITE", "VOLUME", "COORDINATES", "POINT")


@dataclass(frozen=True)
class Prescription:
    """A prescription in Gy and where it was found."""

    gy: float
    origin: str


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f > 0 and f < 1e4 else None


def read_prescription(f: DicomFile) -> Prescription | None:
    """The plan's prescription: the Target Prescription Dose of its target dose reference (a SITE
    or VOLUME reference first, the largest if several), else fractions x the sum of beam doses."""
    ds = f.ds
    label = str(ds.get("RTPlanLabel", "") or "").strip() or f.path.name
    by_type: dict[str, list[float]] = {}
    for item in ds.get("DoseReferenceSequence", []) or []:
        gy = _num(item.get("TargetPrescriptionDose"))
        if gy is not None:
            by_type.setdefault(str(item.get("DoseReferenceStructureType", "") or "").upper(), []).append(gy)
    for t in (*_STRUCTURE_PREFERENCE, *by_type):
        if by_type.get(t):
            return Prescription(max(by_type[t]), f"RTPLAN {label}: target prescription dose ({t.lower()})")
    for fg in ds.get("FractionGroupSequence", []) or []:
        n = _num(fg.get("NumberOfFractionsPlanned"))
        doses = (_num(b.get("BeamDose")) for b in fg.get("ReferencedBeamSequence", []) or [])
        beam = [b for b in doses if b is not None]
        if n and beam:
            return Prescription(n * sum(beam), f"RTPLAN {label}: {n:g} fractions x beam doses")
    return None
