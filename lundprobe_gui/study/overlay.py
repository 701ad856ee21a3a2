"""A study's saved masks laid over the dataset in memory: the opener of the batch analyses.

``metrics``, ``dvh`` and ``uncertainty-edits`` with ``--study``, and ``study report``, open each
patient of the dataset as usual and then, in the patient model only:

* take out the published observer edits (``step<k>_obs<X>`` of the dataset) that were not chosen;
* add the study's finished edits as sources ``step<k>_<label>``, the file checked against the
  sha256 the study recorded (a mask that differs is left out, with a warning);
* optionally keep only some structures.

Nothing is copied into the dataset. The *label* of a study observer is its ID, unless the dataset
holds published edits under the same ID: then it is ``study:<ID>`` so the two never mix, and
``--observers`` names them ``study:<ID>`` and ``published:<ID>``.

:class:`StudyOverlay` is the batch ``opener`` (:mod:`lundprobe_gui.batch.patient`): it pickles,
lists the study's files of a patient as ``extra_inputs`` and keys the result cache by the
definition's hash and the selection, so a changed edit recomputes its patient only.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .reading import OBSERVER_MASK, StudyOutputs, StudyReadError

if TYPE_CHECKING:
    from ..core.patient import Patient

logger = logging.getLogger(__name__)

STUDY_PREFIX, PUBLISHED_PREFIX = "study:", "published:"
HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class OverlayMask:
    """A study mask to lay over one patient: structure, source name, file and recorded sha256."""

    patient: str
    structure: str
    source: str
    path: str
    sha256: str | None


@dataclass(frozen=True)
class ObserverChoice:
    """The observers an analysis takes.

    Attributes
    ----------
    study : tuple of (str, str)
        ``(study observer ID, label)`` of the study observers taken.
    published : tuple of str or None
        Published observer IDs kept (None keeps every published edit, as without a study).
    """

    study: tuple[tuple[str, str], ...]
    published: tuple[str, ...] | None

    @property
    def labels(self) -> list[str]:
        """Every chosen observer's label, study observers first."""
        return [label for _, label in self.study] + list(self.published or ())


def _sha256(path: str) -> str | None:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(HASH_CHUNK):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        return None


def published_observers(patient_dirs: Iterable[str | os.PathLike]) -> set[str]:
    """IDs of the observers whose published edits these patient folders hold."""
    from ..io.lundprobe import MRI_DIR

    found: set[str] = set()
    for p in patient_dirs:
        try:
            names = os.listdir(Path(p) / MRI_DIR / "observerData")
        except OSError:
            continue
        for n in names:
            m = OBSERVER_MASK.match(n)
            if m is not None:
                found.add(m["o"])
    return found


def study_labels(study_observers: Iterable[str], published: set[str]) -> dict[str, str]:
    """The label of each study observer: its ID, or ``study:<ID>`` when a published observer has that ID."""
    return {o: (STUDY_PREFIX + o if o in published else o) for o in study_observers}


def choose_observers(
    requested: Sequence[str] | None, study_observers: Sequence[str], published: set[str]
) -> ObserverChoice:
    """Resolve ``--observers`` against the study's and the dataset's observers.

    ``study:ID`` and ``published:ID`` name one side; a plain ID names the only side that has it.
    Without ``requested``: every study observer and no published one when there is a study; every
    published observer when there is none.

    Raises
    ------
    StudyReadError
        For an unknown ID, or a plain ID both sides have.
    """
    labels = study_labels(study_observers, published)
    if requested is None:
        if study_observers:
            return ObserverChoice(tuple(labels.items()), ())
        return ObserverChoice((), None)
    take_study: dict[str, str] = {}
    take_published: dict[str, None] = {}
    for token in requested:
        if token.startswith(STUDY_PREFIX):
            oid = token[len(STUDY_PREFIX) :]
            if oid not in labels:
                raise StudyReadError(f"--observers {token}: the study has no observer {oid!r} ({_list(labels)})")
            take_study[oid] = labels[oid]
        elif token.startswith(PUBLISHED_PREFIX):
            oid = token[len(PUBLISHED_PREFIX) :]
            if oid not in published:
                raise StudyReadError(f"--observers {token}: the dataset has no published edits of {oid!r}")
            take_published[oid] = None
        elif token in labels and token in published:
            raise StudyReadError(
                f"--observers {token}: both the study and the dataset have an observer {token}; "
                f"say study:{token} or published:{token}"
            )
        elif token in labels:
            take_study[token] = labels[token]
        elif token in published:
            take_published[token] = None
        else:
            known = sorted(set(labels) | published)
            raise StudyReadError(f"--observers {token}: no such observer (known: {', '.join(known) or 'none'})")
    return ObserverChoice(tuple(take_study.items()), tuple(take_published))


def _list(labels: dict[str, str]) -> str:
    return ", ".join(labels) or "none"


@dataclass(frozen=True)
class StudyOverlay:
    """The batch opener that lays a study's edits over each patient (see the module docstring).

    Attributes
    ----------
    masks : tuple of OverlayMask
        The study masks of every patient.
    published : tuple of str or None
        Published observers kept (None: all).
    structures : tuple of str or None
        Keep only these structures (None: all).
    key : str
        What identifies the study (the definition's hash, or the folder) in the cache key.
    frame : str
        The frame the edits live in.
    """

    masks: tuple[OverlayMask, ...]
    published: tuple[str, ...] | None
    structures: tuple[str, ...] | None
    key: str
    frame: str = "MRI"

    @classmethod
    def build(
        cls,
        outputs: StudyOutputs | None,
        choice: ObserverChoice,
        structures: Sequence[str] | None = None,
    ) -> StudyOverlay:
        """The overlay of the chosen observers of ``outputs`` (None: the dataset alone, filtered)."""
        labels = dict(choice.study)
        masks = []
        if outputs is not None and outputs.kind != "published":
            for m in outputs.masks:
                if m.observer in labels:
                    source = f"step{m.step}_{labels[m.observer]}"
                    masks.append(OverlayMask(m.patient, m.structure, source, m.path, m.sha256))
        key = ""
        if outputs is not None:
            key = outputs.definition_sha256 or str(outputs.folder or outputs.dataset_root)
        frame = outputs.definition.frame if outputs is not None and outputs.definition is not None else "MRI"
        return cls(
            tuple(masks),
            choice.published,
            None if structures is None else tuple(structures),
            key,
            frame,
        )

    def of_patient(self, patient_dir: str | os.PathLike) -> list[OverlayMask]:
        """The study masks of one patient folder."""
        name = Path(patient_dir).name
        return [m for m in self.masks if m.patient == name]

    def extra_inputs(self, patient_dir: str | os.PathLike) -> list[Path]:
        """The study's files this patient reads (for the result cache)."""
        return [Path(m.path) for m in self.of_patient(patient_dir)]

    def cache_key(self) -> dict:
        """The study and the selection (the files themselves are fingerprinted as extra inputs)."""
        return {
            "overlay": "study",
            "study": self.key,
            "published": None if self.published is None else sorted(self.published),
            "structures": None if self.structures is None else sorted(self.structures),
            "sources": sorted({m.source for m in self.masks}),
            "frame": self.frame,
        }

    def __call__(self, path: str | os.PathLike) -> Patient:
        """Open the patient and lay the study over it."""
        from ..core.patient import Problem, StructureRef
        from ..io.open import open_patient
        from ..metrics.compare import parse_observer_source

        patient = open_patient(path, edits=False)
        frame = patient.frames.get(self.frame)
        for fr in patient.frames.values():
            for (name, source), ref in list(fr.structures.items()):
                parsed = parse_observer_source(source)
                drop = self.structures is not None and name not in self.structures
                if parsed is not None and self.published is not None and parsed[1] not in self.published:
                    drop = True
                if drop:
                    patient.unregister_structure(ref.key)
        mine = self.of_patient(path)
        if mine and frame is None:
            raise StudyReadError(f"{patient.id}: no {self.frame} frame to lay the study's edits over")
        for m in mine:
            if self.structures is not None and m.structure not in self.structures:
                continue
            if m.sha256 is not None:
                digest = _sha256(m.path)
                if digest != m.sha256:
                    why = "cannot be read" if digest is None else "does not match the sha256 the study recorded"
                    patient.add_problem(Problem(m.path, "tampered", f"the study's edit {why}; left out"))
                    continue
            patient.register_structure(StructureRef(m.structure, m.source, self.frame, m.path))
        return patient
