"""The study definition held in ``<study>/study.json``: what is studied, by whom, under which rules."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.names import InvalidName, folds_case_key, validate_data_name, validate_observer, validate_source
from ..core.text import validate_text
from .errors import CorruptStudyFile
from .files import read_json, study_file
from .presets import (
    DEFAULT_HIDDEN,
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_START_SOURCE,
    DEFAULT_WASHOUT_DAYS,
    HIDE_CATEGORIES,
    UNCERTAINTY_RANGE,
)
from .questions import Question
from .secret import AdminSecret

logger = logging.getLogger(__name__)

FORMAT = "lundprobe_gui.study"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class StepRules:
    """What one step shows and hides.

    Parameters
    ----------
    step : int
        1-based step number.
    title : str
        Short title shown to the observer.
    instructions : str
        What the observer is asked to do in this step.
    show_uncertainty : bool
        Whether the DL uncertainty map may be shown.
    uncertainty_scale : str
        ``fixed`` (the published study's 0-0.5 scale) or ``per_map``.
    uncertainty_range : tuple of float
        The fixed scale's (low, high).
    hidden : tuple of str
        Categories of layers hidden in this step (see :data:`~lundprobe_gui.study.presets.HIDE_CATEGORIES`).
    """

    step: int
    title: str
    instructions: str
    show_uncertainty: bool
    uncertainty_scale: str = "fixed"
    uncertainty_range: tuple[float, float] = UNCERTAINTY_RANGE
    hidden: tuple[str, ...] = DEFAULT_HIDDEN

    def __post_init__(self) -> None:
        if self.step < 1:
            raise ValueError(f"step numbers start at 1, got {self.step}")
        if self.uncertainty_scale not in ("fixed", "per_map"):
            raise ValueError(f"step {self.step}: uncertainty_scale must be 'fixed' or 'per_map'")
        lo, hi = self.uncertainty_range
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"step {self.step}: uncertainty_range must be two finite numbers, low < high")
        bad = [h for h in self.hidden if h not in HIDE_CATEGORIES]
        if bad:
            raise ValueError(f"step {self.step}: unknown hidden categories {bad}; known: {', '.join(HIDE_CATEGORIES)}")

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "step": self.step,
            "title": self.title,
            "instructions": self.instructions,
            "show_uncertainty": self.show_uncertainty,
            "uncertainty_scale": self.uncertainty_scale,
            "uncertainty_range": list(self.uncertainty_range),
            "hidden": list(self.hidden),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "StepRules":
        """Inverse of :meth:`to_dict`."""
        lo, hi = (float(v) for v in d.get("uncertainty_range", UNCERTAINTY_RANGE))
        return cls(
            int(d["step"]),
            str(d.get("title", "")),
            str(d.get("instructions", "")),
            bool(d["show_uncertainty"]),
            str(d.get("uncertainty_scale", "fixed")),
            (lo, hi),
            tuple(str(h) for h in d.get("hidden", DEFAULT_HIDDEN)),
        )


def default_steps() -> tuple[StepRules, ...]:
    """The published protocol: step 1 without, step 2 with the uncertainty map (fixed 0-0.5 scale)."""
    return (
        StepRules(
            1,
            "Step 1: rate and edit without the uncertainty map",
            "Rate the starting segmentation, then correct it. The uncertainty map is not shown.",
            show_uncertainty=False,
        ),
        StepRules(
            2,
            "Step 2: rate and edit with the uncertainty map",
            "Rate the starting segmentation, then correct it. The DL uncertainty map is shown "
            "on a fixed 0 to 0.5 scale.",
            show_uncertainty=True,
        ),
    )


@dataclass(frozen=True)
class StudyDefinition:
    """Everything ``study init`` decides; immutable once observers have started.

    Parameters
    ----------
    name : str
        Free-text title.
    created_at : str
        ISO UTC time of ``study init``.
    dataset_root : str
        Absolute path of the dataset root (a session may be given another one, e.g. on another machine).
    patients : tuple of str
        Patient folder names inside the dataset root.
    structures : tuple of str
        Structures rated and edited in every case, in the order they are presented.
    observers : tuple of str
        Observer IDs (letters, digits, ``_``, ``-``).
    start_source : str
        The source of the mask each edit starts from (``nnUNet``: the DL ensemble).
    seed : int
        Seed of the case orders (recorded so the orders can be reproduced).
    washout_days : float
        Days between finishing one step and starting the next.
    idle_timeout_s : float
        Seconds without input after which the active-time clock pauses.
    preset : str
        Name of the preset the questions came from.
    steps : tuple of StepRules
        The steps, numbered 1..n.
    questions : tuple of Question
        Asked for every structure of every case, in this order.
    admin : AdminSecret or None
        Hash of the admin PIN; None when admin actions are CLI-only (``--admin``).
    frame : str
        The frame whose grid the edits live on.
    """

    name: str
    created_at: str
    dataset_root: str
    patients: tuple[str, ...]
    structures: tuple[str, ...]
    observers: tuple[str, ...]
    start_source: str = DEFAULT_START_SOURCE
    seed: int = 0
    washout_days: float = DEFAULT_WASHOUT_DAYS
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    preset: str = "reader-study"
    steps: tuple[StepRules, ...] = field(default_factory=default_steps)
    questions: tuple[Question, ...] = ()
    admin: AdminSecret | None = None
    frame: str = "MRI"

    def __post_init__(self) -> None:
        for pid in self.patients:
            validate_data_name(pid, "patient ID")
        for s in self.structures:
            validate_data_name(s, "structure name")
        for o in self.observers:
            validate_observer(o)
        validate_source(self.start_source)
        for what, items in (
            ("patients", self.patients),
            ("structures", self.structures),
            ("observers", self.observers),
        ):
            if not items:
                raise ValueError(f"a study needs at least one of {what}")
            dup = sorted({x for x in items if items.count(x) > 1})
            if dup:
                raise ValueError(f"{what} listed twice: {', '.join(dup)}")
            folded: dict[str, str] = {}
            for x in items:
                twin = folded.setdefault(folds_case_key(x), x)
                if twin != x:
                    raise ValueError(
                        f"{what} {twin!r} and {x!r} differ only in case: their files would be one file on "
                        "Windows and macOS, where studies are shared"
                    )
        validate_text(self.name, "study name", 200)
        if [s.step for s in self.steps] != list(range(1, len(self.steps) + 1)):
            raise ValueError("steps must be numbered 1, 2, ... in order")
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError(f"question ids listed twice: {ids}")
        if not (math.isfinite(self.washout_days) and self.washout_days >= 0):
            raise ValueError("washout_days must be a number >= 0")
        if not (math.isfinite(self.idle_timeout_s) and self.idle_timeout_s > 0):
            raise ValueError("idle_timeout_s must be a number > 0")

    # -- queries ---------------------------------------------------------------------------------
    def step(self, k: int) -> StepRules:
        """The rules of step ``k`` (KeyError when there is none)."""
        for s in self.steps:
            if s.step == k:
                return s
        raise KeyError(f"the study has no step {k} (steps: {[s.step for s in self.steps]})")

    def question(self, qid: str) -> Question:
        """A question by id (KeyError when absent)."""
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(f"the study asks no question {qid!r} (questions: {[q.id for q in self.questions]})")

    @staticmethod
    def target_source(step: int, observer: str) -> str:
        """The source an observer's edits are saved as in a step: ``step<k>_<observer>``."""
        return f"step{int(step)}_{observer}"

    @property
    def washout_seconds(self) -> float:
        """The washout in seconds."""
        return self.washout_days * 86400.0

    def patient_dir(self, patient: str, dataset_root: Path | None = None) -> Path:
        """A patient's folder (in ``dataset_root`` when given, else the recorded root)."""
        return Path(dataset_root or self.dataset_root) / patient

    # -- JSON ------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-ready form (the content of ``study.json``)."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "created_at": self.created_at,
            "dataset_root": self.dataset_root,
            "patients": list(self.patients),
            "structures": list(self.structures),
            "observers": list(self.observers),
            "start_source": self.start_source,
            "frame": self.frame,
            "randomisation": {"seed": self.seed, "method": "sha256(seed|observer|step|patient) order"},
            "washout_days": self.washout_days,
            "idle_timeout_seconds": self.idle_timeout_s,
            "preset": self.preset,
            "steps": [s.to_dict() for s in self.steps],
            "questions": [q.to_dict() for q in self.questions],
            "admin": self.admin.to_dict() if self.admin else None,
        }

    @classmethod
    def from_dict(cls, d: Any, origin: str = "study.json") -> "StudyDefinition":
        """Validate and build; :class:`CorruptStudyFile` names the first problem found."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise CorruptStudyFile(f'{origin}: not a lundprobe_gui study definition (no "format": "{FORMAT}")')
        if d.get("format_version") != FORMAT_VERSION:
            raise CorruptStudyFile(
                f"{origin}: format_version {d.get('format_version')!r} is not supported "
                f"(this version reads {FORMAT_VERSION})"
            )
        try:
            return cls(
                name=str(d.get("name", "")),
                created_at=str(d["created_at"]),
                dataset_root=str(d["dataset_root"]),
                patients=tuple(_strings(d["patients"], "patients")),
                structures=tuple(_strings(d["structures"], "structures")),
                observers=tuple(_strings(d["observers"], "observers")),
                start_source=str(d["start_source"]),
                seed=int(d["randomisation"]["seed"]),
                washout_days=float(d["washout_days"]),
                idle_timeout_s=float(d["idle_timeout_seconds"]),
                preset=str(d.get("preset", "")),
                steps=tuple(StepRules.from_dict(s) for s in d["steps"]),
                questions=tuple(Question.from_dict(q) for q in d["questions"]),
                admin=AdminSecret.from_dict(d["admin"]) if d.get("admin") else None,
                frame=str(d.get("frame", "MRI")),
            )
        except KeyError as e:
            raise CorruptStudyFile(f"{origin}: missing field {e}") from e
        except (InvalidName, ValueError, TypeError) as e:
            raise CorruptStudyFile(f"{origin}: {e}") from e


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{what} must be a list of strings")
    return value


def load_study(study_dir: str | Path) -> StudyDefinition:
    """Read ``<study>/study.json``.

    Raises
    ------
    CorruptStudyFile
        When the file is missing, not JSON, or not a valid definition (the message says which).
    """
    path = study_file(Path(study_dir))
    if not path.is_file():
        raise CorruptStudyFile(
            f"{path.parent}: not a study folder (no {path.name}); create one with 'lundprobe-gui study init'"
        )
    return StudyDefinition.from_dict(read_json(path, "study definition"), str(path))
