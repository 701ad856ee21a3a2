"""An observer's progress as stored in ``<study>/sessions/<observer>.json``.

The whole state is rewritten atomically (temporary file, fsync, rename) after every change, so
the file on disk is always one complete state: the one before or the one after the change. Each
save also records how much of the observer's event log it acknowledges (``events``) and its
``revision``; the audit log links every save (see :mod:`lundprobe_gui.session.chain`).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from ..io.writer import atomic_write
from ..session.events import LogMark
from .clock import parse_iso
from .errors import CorruptStudyFile
from .files import read_json

logger = logging.getLogger(__name__)

FORMAT = "lundprobe_gui.study.session"
FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)
PENDING, IN_PROGRESS, FINISHED = "pending", "in_progress", "finished"
STATUSES = (PENDING, IN_PROGRESS, FINISHED)


@dataclass
class Answer:
    """One rating: its value and when it was given (ISO UTC)."""

    value: int | str
    at: str

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"value": self.value, "at": self.at}


@dataclass
class StructureRecord:
    """Ratings, time and saved edit of one structure of one case."""

    ratings: dict[str, Answer] = field(default_factory=dict)
    rating_history: list[dict] = field(default_factory=list)
    started_at: str | None = None
    editing_started_at: str | None = None
    active_seconds: float = 0.0
    output_file: str | None = None
    output_version: str | None = None
    output_sha256: str | None = None
    voxels_added: int | None = None
    voxels_removed: int | None = None
    saved_at: str | None = None
    saves: int = 0
    uncertainty_visible_seconds: float = 0.0

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "ratings": {k: a.to_dict() for k, a in self.ratings.items()},
            "rating_history": list(self.rating_history),
            "started_at": self.started_at,
            "editing_started_at": self.editing_started_at,
            "active_seconds": self.active_seconds,
            "uncertainty_visible_seconds": self.uncertainty_visible_seconds,
            "output_file": self.output_file,
            "output_version": self.output_version,
            "output_sha256": self.output_sha256,
            "voxels_added": self.voxels_added,
            "voxels_removed": self.voxels_removed,
            "saved_at": self.saved_at,
            "saves": self.saves,
        }

    @classmethod
    def from_dict(cls, d: dict) -> StructureRecord:
        """Inverse of :meth:`to_dict`.

        The recorded output paths are checked: resuming rewrites the plain output and export copies
        and deletes files by them, so a path that leads out of ``output/`` is refused (ValueError).
        """
        return cls(
            {k: Answer(a["value"], _time(a["at"], "rating time")) for k, a in d.get("ratings", {}).items()},
            list(d.get("rating_history", [])),
            _time(d.get("started_at"), "started_at"),
            _time(d.get("editing_started_at"), "editing_started_at"),
            float(d.get("active_seconds", 0.0)),
            _output_path(d.get("output_file")),
            _output_path(d.get("output_version")),
            d.get("output_sha256"),
            d.get("voxels_added"),
            d.get("voxels_removed"),
            _time(d.get("saved_at"), "saved_at"),
            int(d.get("saves", 0)),
            float(d.get("uncertainty_visible_seconds", 0.0)),
        )


_LATEST = 253_402_300_799.0 - 10 * 366 * 86400  # ten years before 9999-12-31, so washouts still fit


def _answer(a: Any) -> Answer:
    if not isinstance(a, dict) or not isinstance(a.get("value"), (int, str)):
        raise ValueError(f"questionnaire answer {str(a)[:40]!r} is not a value with its time")
    return Answer(a["value"], _time(a["at"], "questionnaire answer time"))


@overload
def _time(value: str, what: str) -> str: ...
@overload
def _time(value: Any, what: str) -> str | None: ...
def _time(value: Any, what: str) -> str | None:
    """A recorded time: None (or empty), or ISO 8601 text the schedule can compute with (ValueError otherwise)."""
    if value is None or value == "":
        return value
    if not isinstance(value, str):
        raise ValueError(f"{what} {value!r} is not a time")
    try:
        t = parse_iso(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{what} {value[:40]!r} is not an ISO 8601 time") from None
    if not 0 <= t <= _LATEST:
        raise ValueError(f"{what} {value[:40]!r} is outside the years 1970-9989")
    return value


def _output_path(value: Any) -> str | None:
    """A recorded output path: None, or ``output/<patient>/.../<file>.nii.gz`` with no way out of it."""
    if value is None:
        return None
    text = str(value)
    parts = re.split(r"[\\/]", text)  # written with the platform's separator
    if (
        len(parts) < 3
        or parts[0] != "output"
        or any(p in ("", ".", "..") or ":" in p for p in parts)
        or "\0" in text
        or not text.endswith(".nii.gz")
    ):
        raise ValueError(f"recorded output {text!r} is not a file inside the study's output folder")
    return text


@dataclass
class CaseRecord:
    """One case (patient) of one step."""

    patient: str
    pseudonym: str
    position: int
    structures: dict[str, StructureRecord]
    active_structure: str
    status: str = PENDING
    started_at: str | None = None
    finished_at: str | None = None
    unlocks: list[dict] = field(default_factory=list)

    def matches(self, label: str) -> bool:
        """Whether ``label`` names this case: its pseudonym, or its number ("7", "07", "case 7")."""
        m = re.match(r"(?i)^\s*(?:case\s*)?(\d+)\s*$", label)
        if m:
            return self.position == int(m.group(1))
        return self.pseudonym == label

    @property
    def active_seconds(self) -> float:
        """Active time of the case: the sum of its structures' times."""
        return sum(r.active_seconds for r in self.structures.values())

    def to_dict(self, finishing: bool = False) -> dict:
        """JSON-ready form; ``finishing``: written as still in progress (its outputs are being saved)."""
        return {
            "patient": self.patient,
            "pseudonym": self.pseudonym,
            "position": self.position,
            "status": IN_PROGRESS if finishing else self.status,
            "started_at": self.started_at,
            "finished_at": None if finishing else self.finished_at,
            "active_structure": self.active_structure,
            "active_seconds": self.active_seconds,
            "structures": {k: r.to_dict() for k, r in self.structures.items()},
            "unlocks": list(self.unlocks),
        }

    @classmethod
    def from_dict(cls, d: dict) -> CaseRecord:
        """Inverse of :meth:`to_dict`."""
        status = str(d.get("status", PENDING))
        if status not in STATUSES:
            raise ValueError(f"unknown case status {status!r}")
        return cls(
            str(d["patient"]),
            str(d["pseudonym"]),
            int(d["position"]),
            {k: StructureRecord.from_dict(r) for k, r in d["structures"].items()},
            str(d["active_structure"]),
            status,
            _time(d.get("started_at"), "started_at"),
            _time(d.get("finished_at"), "finished_at"),
            [dict(u, at=_time(u["at"], "unlock time")) for u in d.get("unlocks", [])],
        )


@dataclass
class StepRecord:
    """One step of one observer: the case order and the cases."""

    step: int
    cases: list[CaseRecord]
    completed_at: str | None = None
    washout_override: dict | None = None
    questionnaire: dict[str, Answer] = field(default_factory=dict)
    questionnaire_at: str | None = None

    @property
    def order(self) -> list[str]:
        """Patient IDs in presentation order."""
        return [c.patient for c in self.cases]

    def finished(self) -> bool:
        """Whether every case is finished."""
        return all(c.status == FINISHED for c in self.cases)

    def to_dict(self, finishing: frozenset[str] = frozenset(), completing: bool = False) -> dict:
        """JSON-ready form.

        Cases whose patient is in ``finishing`` are written as still in progress, and with
        ``completing`` the step as not yet completed: their outputs are still being saved.
        """
        return {
            "step": self.step,
            "completed_at": None if completing else self.completed_at,
            "washout_override": self.washout_override,
            "cases": [c.to_dict(c.patient in finishing) for c in self.cases],
            "questionnaire": {q: a.to_dict() for q, a in self.questionnaire.items()},
            "questionnaire_at": self.questionnaire_at,
        }

    @classmethod
    def from_dict(cls, d: dict) -> StepRecord:
        """Inverse of :meth:`to_dict`."""
        override = d.get("washout_override")
        if override is not None:
            override = dict(override, at=_time(override["at"], "washout override time"))
        return cls(
            int(d["step"]),
            [CaseRecord.from_dict(c) for c in d["cases"]],
            _time(d.get("completed_at"), "completed_at"),
            override,
            {str(q): _answer(a) for q, a in (d.get("questionnaire") or {}).items()},
            _time(d.get("questionnaire_at"), "questionnaire_at"),
        )


@dataclass
class SessionState:
    """Everything an observer has done in a study.

    ``events`` is the part of the event log the saved state acknowledges (None in files written
    before event logs existed); ``definition_sha256`` the sealed ``study.json`` it was made under.
    """

    observer: str
    created_at: str
    steps: dict[int, StepRecord]
    updated_at: str = ""
    revision: int = 0
    events: LogMark | None = None
    definition_sha256: str | None = None
    format_version: int = FORMAT_VERSION

    def to_dict(self, finishing: dict[int, set[str]] | None = None, completing: set[int] | None = None) -> dict:
        """JSON-ready form.

        ``finishing``: per step, patients whose finish is still being saved; ``completing``: steps
        whose completion came with one of them. Both are written as they were before.
        """
        finishing, completing = finishing or {}, completing or set()
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "observer": self.observer,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "revision": self.revision,
            "definition_sha256": self.definition_sha256,
            "events": self.events.to_dict() if self.events is not None else None,
            "steps": [
                s.to_dict(frozenset(finishing.get(s.step, ())), s.step in completing)
                for s in sorted(self.steps.values(), key=lambda s: s.step)
            ],
        }

    @classmethod
    def from_dict(cls, d: Any, origin: str) -> SessionState:
        """Validate and build; :class:`CorruptStudyFile` when it is not a session file."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise CorruptStudyFile(f"{origin}: not a lundprobe_gui session file")
        version = d.get("format_version")
        if version not in READ_VERSIONS:
            raise CorruptStudyFile(f"{origin}: session format_version {version!r} is not supported")
        try:
            steps = [StepRecord.from_dict(s) for s in d["steps"]]
            return cls(
                str(d["observer"]),
                _time(str(d["created_at"]), "created_at"),
                {s.step: s for s in steps},
                _time(str(d.get("updated_at", "")), "updated_at") or "",
                int(d.get("revision", 0)),
                LogMark.from_dict(d["events"]) if d.get("events") is not None else None,
                str(d["definition_sha256"]) if d.get("definition_sha256") else None,
                int(version),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CorruptStudyFile(
                f"{origin}: damaged session file ({type(e).__name__}: {e}); it was left untouched"
            ) from e


def load_state(path: Path) -> SessionState | None:
    """Read a session file; None when there is none yet."""
    path = Path(path)
    if not path.exists():
        return None
    return SessionState.from_dict(read_json(path, "session file"), str(path))


def state_bytes(state: SessionState) -> bytes:
    """The session file's content for a state (ASCII JSON)."""
    return json.dumps(state.to_dict(), indent=1).encode("ascii")


def state_from_bytes(data: bytes, origin: str) -> SessionState:
    """Inverse of :func:`state_bytes`."""
    return SessionState.from_dict(json.loads(data), origin)


def save_state(path: Path, state: SessionState) -> bytes:
    """Write the whole state atomically (temporary file, fsync, rename); returns what was written."""
    data = state_bytes(state)
    atomic_write(Path(path), data)
    return data
