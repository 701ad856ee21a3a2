"""The review definition: reviewer, dataset, and per case the AI segmentation and its segments.

Files of a review folder::

    <review>/review.json          the definition (written once by ``review init``)
    <review>/state.json           the reviewer's progress (atomically rewritten after every change)
    <review>/review.lock          present while a session is open
    <review>/output/<case>/...    corrected segmentations (``Patient.save_mask`` versions + sidecars)
    <review>/review-results.csv   one row per reviewed case (``review export``)

Which structures are "the AI segmentation" of a case is decided once, at ``init``:

* ``segmentation`` given: the reference frame's structures whose source, or whose file's stem,
  equals it (for example ``nnUNet``, or ``labels_map`` for ``labels_map.nii.gz``);
* otherwise: the structures of the case's first label-map file; else the ``nnUNet`` structures
  (LUND-PROBE); else the ``clinical`` ones.

All segments of a case come from one source, so a segment is named by its structure name.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..core.names import validate_observer
from ..core.patient import Patient, StructureRef
from ..io.dicom import collection
from ..io.guard import (
    DATASET_LAYOUTS,
    Protected,
    has_dataset_files,
    register_patient,
)
from ..io.open import NoImageError, detect_layout, is_dataset_root, list_patients, open_patient
from ..io.probe import strip_suffix
from ..io.small_files import read_json_file
from ..io.writer import atomic_write
from ..session.activetime import DEFAULT_IDLE_S, DEFAULT_TAIL_S, IdleRule
from .errors import CorruptReviewFile, ReviewError

logger = logging.getLogger(__name__)

FORMAT = "lundprobe_gui-review"
REVIEW_FILE = "review.json"
STATE_FILE = "state.json"
LOCK_FILE = "review.lock"
OUTPUT_DIR = "output"
RESULTS_FILE = "review-results.csv"
EVENTS_FILE = "events.jsonl"
IDLE_SECONDS = DEFAULT_IDLE_S
IDLE_TAIL_SECONDS = DEFAULT_TAIL_S


@dataclass(frozen=True)
class SegmentSpec:
    """One segment of a case's AI segmentation.

    Attributes
    ----------
    name : str
        Structure name (the rating column is ``"<name> rating"``).
    file : str
        Its file, relative to the dataset root (POSIX separators).
    label : int or None
        Its value in a label-map file; None for a binary mask file.
    """

    name: str
    file: str
    label: int | None = None


@dataclass(frozen=True)
class CaseSpec:
    """One case: where it is and what is reviewed."""

    case_id: str
    path: str
    layout: str
    frame: str
    source: str
    segments: tuple[SegmentSpec, ...]

    def segment(self, name: str) -> SegmentSpec:
        """The segment called ``name``.

        Raises
        ------
        ReviewError
            When the case has no such segment.
        """
        for s in self.segments:
            if s.name == name:
                return s
        raise ReviewError(
            f"case {self.case_id} has no segment {name!r}; its segments are {', '.join(s.name for s in self.segments)}"
        )

    @property
    def segmentation_files(self) -> list[str]:
        """The AI segmentation's files (relative to the dataset root), in segment order."""
        return list(dict.fromkeys(s.file for s in self.segments))

    def to_dict(self) -> dict:
        """JSON-ready form."""
        d = asdict(self)
        d["segments"] = [asdict(s) for s in self.segments]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CaseSpec:
        """Inverse of :meth:`to_dict`."""
        segs = tuple(
            SegmentSpec(str(s["name"]), str(s["file"]), None if s.get("label") is None else int(s["label"]))
            for s in d["segments"]
        )
        return cls(str(d["case_id"]), str(d["path"]), str(d["layout"]), str(d["frame"]), str(d["source"]), segs)


@dataclass(frozen=True)
class ReviewProtocol:
    """The definition of one reviewer's review of a case list."""

    reviewer: str
    dataset: str
    cases: tuple[CaseSpec, ...]
    idle_seconds: float = IDLE_SECONDS
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    idle_tail_seconds: float = IDLE_TAIL_SECONDS

    @property
    def idle_rule(self) -> IdleRule:
        """The active-time rule of this review (see :mod:`lundprobe_gui.session.activetime`)."""
        return IdleRule(self.idle_seconds, min(self.idle_tail_seconds, self.idle_seconds))

    def case(self, case_id: str) -> CaseSpec:
        """The case called ``case_id``.

        Raises
        ------
        ReviewError
            When there is no such case.
        """
        for c in self.cases:
            if c.case_id == case_id:
                return c
        raise ReviewError(f"no case {case_id!r} in this review; cases: {', '.join(c.case_id for c in self.cases)}")

    def case_dir(self, case: CaseSpec) -> Path:
        """The patient folder of a case."""
        return Path(self.dataset) / case.path

    def segment_names(self) -> list[str]:
        """Every segment name, in order of first appearance over the cases (the rating columns)."""
        return list(dict.fromkeys(s.name for c in self.cases for s in c.segments))

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "format": FORMAT,
            "version": 1,
            "reviewer": self.reviewer,
            "dataset": self.dataset,
            "idle_seconds": self.idle_seconds,
            "idle_tail_seconds": self.idle_tail_seconds,
            "created": self.created,
            "cases": [c.to_dict() for c in self.cases],
        }

    @classmethod
    def from_dict(cls, d: Any, origin: str = REVIEW_FILE) -> ReviewProtocol:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        CorruptReviewFile
            When the content is not a review definition.
        """
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise CorruptReviewFile(f"{origin}: not a lundprobe_gui review definition")
        try:
            return cls(
                validate_observer(str(d["reviewer"])),
                str(d["dataset"]),
                tuple(CaseSpec.from_dict(c) for c in d["cases"]),
                float(d.get("idle_seconds", IDLE_SECONDS)),
                str(d.get("created", "")),
                float(d.get("idle_tail_seconds", IDLE_TAIL_SECONDS)),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise CorruptReviewFile(f"{origin}: incomplete or invalid review definition ({e})") from e


def read_json(path: Path, what: str) -> Any:
    """Parse a JSON file, turning every failure into :class:`CorruptReviewFile`."""
    try:
        return read_json_file(path, what=what)
    except FileNotFoundError:
        raise CorruptReviewFile(f"{path}: {what} not found (is this a review folder made by 'review init'?)") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CorruptReviewFile(f"{path}: cannot read the {what} ({e}); it was left untouched") from e


def write_json(path: Path, data: Any) -> None:
    """Atomically replace a JSON file.

    Written as ASCII (``\\u`` escapes): a path that is not UTF-8 (its bytes kept as lone
    surrogates) is stored as it is instead of failing every save.
    """
    atomic_write(Path(path), (json.dumps(data, indent=2) + "\n").encode("ascii"))


def protected_of(protocol: ReviewProtocol) -> Protected:
    """The review's case folders and, when it is one, its dataset root: no review write may touch them.

    The folder a single plain-folder case was taken from is not a dataset root (the review folder
    may sit beside the case); a LUND-PROBE or StructSeg root, or one the cases were listed from, is.
    """
    cases = protocol.cases
    dataset = len(cases) > 1 or any(c.layout in DATASET_LAYOUTS for c in cases) or has_dataset_files(protocol.dataset)
    return Protected.of([protocol.case_dir(c) for c in cases], [protocol.dataset] if dataset else [])


def load_protocol(review_dir: str | Path) -> ReviewProtocol:
    """Read ``<review>/review.json``."""
    path = Path(review_dir) / REVIEW_FILE
    return ReviewProtocol.from_dict(read_json(path, "review definition"), str(path))


# -- building a protocol ----------------------------------------------------------------------
def _stem(ref: StructureRef) -> str:
    return strip_suffix(Path(ref.path).name)


def select_segments(patient: Patient, segmentation: str | None = None) -> tuple[str, list[StructureRef]]:
    """The source and structures that make up a patient's AI segmentation (rule in the module docstring)."""
    refs = patient.structures(patient.reference_frame.name)
    if segmentation:
        chosen = [r for r in refs if r.source == segmentation] or [r for r in refs if _stem(r) == segmentation]
        sources = list(dict.fromkeys(r.source for r in chosen))
        if len(sources) > 1:
            chosen = [r for r in chosen if r.source == sources[0]]
    else:
        label_files = list(dict.fromkeys(r.path for r in refs if r.label is not None))
        if label_files:
            chosen = [r for r in refs if r.path == label_files[0] and r.label is not None]
        else:
            chosen = [r for r in refs if r.source == "nnUNet"] or [r for r in refs if r.source == "clinical"]
    return (chosen[0].source if chosen else ""), chosen


def _relative(path: str | Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).resolve().as_posix()


def build_case(patient: Patient, dataset: Path, segmentation: str | None = None) -> CaseSpec:
    """The :class:`CaseSpec` of an opened patient.

    Raises
    ------
    ReviewError
        When the patient has no structure that could be the AI segmentation.
    """
    source, refs = select_segments(patient, segmentation)
    if not refs:
        what = f"matching {segmentation!r}" if segmentation else "(no label map, nnUNet or clinical structure)"
        raise ReviewError(f"case {patient.id}: no AI segmentation {what}")
    segs = tuple(SegmentSpec(r.name, _relative(r.path, dataset), r.label) for r in refs)
    return CaseSpec(patient.id, _relative(patient.path, dataset), patient.layout, refs[0].frame, source, segs)


def case_folders(dataset: Path, cases: Sequence[str] | None = None) -> list[tuple[str, Path]]:
    """(case ID, folder) of a dataset root (or of a single patient folder), optionally restricted and ordered.

    Raises
    ------
    ReviewError
        When the dataset has no patients or a requested case is not in it.
    """
    dataset = Path(dataset)
    if is_dataset_root(dataset):
        found = [(e.patient_id, e.path) for e in list_patients(dataset)]
    elif detect_layout(dataset):
        found = [(dataset.name, dataset)]
    else:
        raise ReviewError(f"{dataset}: neither a dataset root nor a patient folder of a known layout")
    if cases:
        by_id = dict(found)
        missing = [c for c in cases if c not in by_id]
        if missing:
            raise ReviewError(
                f"case(s) not in {dataset}: {', '.join(missing)}; available: {', '.join(by_id) or 'none'}"
            )
        if len(set(cases)) != len(cases):
            raise ReviewError("a case is listed more than once")
        found = [(c, by_id[c]) for c in cases]
    return found


def create_protocol(
    dataset: str | Path,
    reviewer: str,
    cases: Sequence[str] | None = None,
    segmentation: str | None = None,
    idle_seconds: float = IDLE_SECONDS,
) -> ReviewProtocol:
    """Open every case once and record its AI segmentation's segments.

    Raises
    ------
    InvalidName
        For a reviewer ID that is not letters, digits, ``_`` and ``-``.
    ReviewError
        For a dataset without the cases or segmentations asked for.
    """
    reviewer = validate_observer(reviewer)
    if idle_seconds <= 0:
        raise ReviewError("the idle timeout must be > 0 seconds")
    dataset = Path(dataset).expanduser().resolve()
    if collection.is_collection(dataset):
        return ReviewProtocol(reviewer, str(dataset), collection_cases(dataset, cases), float(idle_seconds))
    folders = case_folders(dataset, cases)
    root = dataset if is_dataset_root(dataset) else dataset.parent
    specs: list[CaseSpec] = []
    for case_id, folder in folders:
        try:
            patient = open_patient(folder, edits=False)
        except NoImageError as e:
            raise ReviewError(f"case {case_id}: {e}") from e
        specs.append(build_case(patient, root, segmentation))
    if not specs:
        raise ReviewError(f"{dataset}: no cases to review")
    return ReviewProtocol(reviewer, str(root), tuple(specs), float(idle_seconds))


IDC_LAYOUT = "idc"
"""``CaseSpec.layout`` of a case of a published review collection (see :mod:`lundprobe_gui.io.dicom.collection`)."""


def collection_cases(root: Path, cases: Sequence[str] | None = None) -> tuple[CaseSpec, ...]:
    """One case per AI segmentation of a published review collection, optionally restricted and ordered.

    Raises
    ------
    ReviewError
        When a case is not in the collection or cannot be opened.
    """
    found = {c.case_id: c for c in collection.list_cases(root)}
    wanted = list(cases) if cases else list(found)
    missing = [c for c in wanted if c not in found]
    if missing:
        raise ReviewError(f"case(s) not in {root}: {', '.join(missing)}; available: {', '.join(found) or 'none'}")
    specs = []
    for cid in wanted:
        rel = found[cid].seg_path.relative_to(root).as_posix()
        try:
            patient = collection.open_case(root, rel)
        except FileNotFoundError as e:
            raise ReviewError(f"case {cid}: {e}") from e
        refs = patient.structures(source=collection.AI_SOURCE)
        if not refs:
            raise ReviewError(f"case {cid}: the AI segmentation has no segments")
        segs = tuple(SegmentSpec(r.name, rel, r.label) for r in refs)
        specs.append(CaseSpec(cid, rel, IDC_LAYOUT, refs[0].frame, collection.AI_SOURCE, segs))
    if not specs:
        raise ReviewError(f"{root}: no AI segmentations in {collection.AI_DIR}/")
    return tuple(specs)


def open_case_patient(protocol: ReviewProtocol, case: CaseSpec) -> Patient:
    """The patient of a case: a collection case through its AI segmentation, any other by its folder."""
    if case.layout == IDC_LAYOUT:
        patient = collection.open_case(protocol.dataset, case.path)
        register_patient(patient)  # its files are inputs, as those open_patient opens
        return patient
    return open_patient(protocol.case_dir(case), edits=False)
