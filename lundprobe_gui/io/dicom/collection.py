"""The public AI-segmentation review collections as they are published (IDC)::

    <collection>/ai-segmentations-dcm/   AI predictions as DICOM-SEG, one file per image series
    <collection>/qa-segmentations-dcm/   reviewers' corrections as DICOM-SEG (not read here)
    <collection>/qa-results.csv          one row per reviewed series
    <collection>/<anything else>/        the DICOM image series the segmentations reference

Each file of ``ai-segmentations-dcm/`` is a case (named by its file stem): the image series it
references plus its segments, opened as a ``dicom`` patient whose AI segments have the source
:data:`AI_SOURCE`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from ...core.patient import Patient, Problem
from .files import is_dicom_file, walk
from .scan import DicomFile, read_header

logger = logging.getLogger(__name__)

AI_DIR = "ai-segmentations-dcm"
QA_DIR = "qa-segmentations-dcm"
QA_RESULTS = "qa-results.csv"
_index_lock = threading.Lock()
_index: dict[Path, tuple[float, dict[str, list[DicomFile]]]] = {}


@dataclass(frozen=True)
class CollectionCase:
    """One AI segmentation of a collection and what it references."""

    case_id: str
    seg_path: Path
    patient_id: str
    study_uid: str
    series_uid: str


def is_collection(path: str | Path) -> bool:
    """Whether a folder is a published review collection (it has ``ai-segmentations-dcm/``)."""
    return (Path(path) / AI_DIR).is_dir()


def list_cases(root: str | Path) -> list[CollectionCase]:
    """The AI segmentations of a collection, by file name."""
    root = Path(root)
    out = []
    for f in sorted((root / AI_DIR).iterdir()):
        if not is_dicom_file(f):
            continue
        got = read_header(f)
        if not isinstance(got, DicomFile) or got.kind != "seg":
            continue
        ds = got.ds
        series = ""
        for se in ds.get("ReferencedSeriesSequence", []) or []:
            series = series or str(se.get("SeriesInstanceUID", "") or "")
        stem = f.name[:-4] if f.name.lower().endswith(".dcm") else f.name
        out.append(CollectionCase(stem, f, str(ds.get("PatientID", "") or ""), got.uid("StudyInstanceUID"), series))
    return out


def _series_index(root: Path) -> dict[str, list[DicomFile]]:
    """Image headers of the collection by SeriesInstanceUID (read once per collection and modification time)."""
    stamp = root.stat().st_mtime
    with _index_lock:
        hit = _index.get(root)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    paths, _ = walk(root)
    index: dict[str, list[DicomFile]] = {}
    for p in paths:
        rel = p.relative_to(root).parts
        if rel and rel[0] in (AI_DIR, QA_DIR):
            continue
        got = read_header(p)
        if isinstance(got, DicomFile) and got.kind == "image":
            index.setdefault(got.uid("SeriesInstanceUID"), []).append(got)
    with _index_lock:
        _index[root] = (stamp, index)
    return index


def open_case(root: str | Path, seg_file: str | Path) -> Patient:
    """Open one case: the series an AI segmentation references, with its segments (source :data:`AI_SOURCE`).

    Raises
    ------
    FileNotFoundError
        When the segmentation or its image series is not in the collection.
    """
    from .patient import build_patient

    root = Path(root)
    seg_path = root / seg_file
    seg = read_header(seg_path) if seg_path.is_file() else None
    if not isinstance(seg, DicomFile) or seg.kind != "seg":
        raise FileNotFoundError(f"{seg_path}: not a DICOM segmentation")
    series = ""
    for se in seg.ds.get("ReferencedSeriesSequence", []) or []:
        series = series or str(se.get("SeriesInstanceUID", "") or "")
    images = _series_index(root).get(series, [])
    if not images:
        raise FileNotFoundError(f"{seg_path.name}: its image series {series} is not in the collection {root}")
    seg.ds.SeriesDescription = AI_SOURCE  # names the structures' source; the file itself is untouched
    stem = seg_path.name[:-4] if seg_path.name.lower().endswith(".dcm") else seg_path.name
    problems: list[Problem] = []
    patient = build_patient(seg_path.parent, stem, [*images, seg], problems)
    patient.dataset_root = root
    return patient


AI_SOURCE = "AI"
