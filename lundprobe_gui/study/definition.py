"""The study definition held in ``<study>/study.json``: what is studied, by whom, under which rules."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..core.names import InvalidName, folds_case_key, validate_data_name, validate_observer, validate_source
from ..core.text import validate_text
from ..session.activetime import IdleRule
from .design import DESIGNS, ORDER_RECIPE, arm_orders, validate_arm_name
from .errors import CorruptStudyFile
from .files import read_json, study_file
from .presets import (
    DEFAULT_HIDDEN,
    DEFAULT_IDLE_TAIL_S,
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_START_SOURCE,
    DEFAULT_WASHOUT_DAYS,
    DISTINCT_UNCERTAINTY_COLOURS,
    HIDE_CATEGORIES,
    PUBLISHED_UNCERTAINTY_COLOURS,
    UNCERTAINTY_COLOURS,
    UNCERTAINTY_RANGE,
)
from .questions import Question
from .randomise import RECIPE
from .secret import AdminSecret

logger = logging.getLogger(__name__)

FORMAT = "lundprobe_gui.study"
FORMAT_VERSION = 3
READ_VERSIONS = (1, 2, 3)
"""Version 1 (before sealing, the dose category and the event log) is still read; its rules are kept as written.
Versions 1 and 2 (before arms, designs and the end-of-step questionnaire) read as a sequential design whose
arms are their steps' rules, named ``without`` / ``with_uncertainty`` by what they showed."""
_STEP_TITLE = re.compile(r"^Step \d+:\s*")


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
    uncertainty_colours : str, optional
        The map's colour scale: ``rainbow`` (the published study's, while the dose is hidden) or
        ``magenta`` (distinct from the dose wash, when the step shows the dose). Derived from
        ``hidden`` when None, and recorded in ``study.json``.
    tools : tuple of str, optional
        The editing tools (and guided aids) this step allows; every tool when None. Tools that read
        hidden data (the folds, the uncertainty map) are refused whatever this says.
    arm : str
        The name of the arm these rules are (what was shown: ``without``, ``with_uncertainty``, or
        one of ``study init --arm``); derived from ``show_uncertainty`` when empty.
    """

    step: int
    title: str
    instructions: str
    show_uncertainty: bool
    uncertainty_scale: str = "fixed"
    uncertainty_range: tuple[float, float] = UNCERTAINTY_RANGE
    hidden: tuple[str, ...] = DEFAULT_HIDDEN
    uncertainty_colours: str | None = None
    tools: tuple[str, ...] | None = None
    arm: str = ""

    def __post_init__(self) -> None:
        if not self.arm:
            object.__setattr__(self, "arm", "with_uncertainty" if self.show_uncertainty else "without")
        validate_arm_name(self.arm)
        if self.uncertainty_colours is None:
            colours = PUBLISHED_UNCERTAINTY_COLOURS if "dose" in self.hidden else DISTINCT_UNCERTAINTY_COLOURS
            object.__setattr__(self, "uncertainty_colours", colours)
        if self.uncertainty_colours not in UNCERTAINTY_COLOURS:
            raise ValueError(f"step {self.step}: uncertainty_colours must be one of {', '.join(UNCERTAINTY_COLOURS)}")
        if self.uncertainty_colours == PUBLISHED_UNCERTAINTY_COLOURS and "dose" not in self.hidden:
            logger.warning("step %d shows the dose with the uncertainty map in the dose wash's rainbow", self.step)
        if self.tools is not None:
            object.__setattr__(self, "tools", tuple(str(t) for t in self.tools))
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

    @property
    def dose_shown(self) -> bool:
        """Whether the dose (wash and isodose lines) may be shown."""
        return "dose" not in self.hidden

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "step": self.step,
            "title": self.title,
            "instructions": self.instructions,
            "show_uncertainty": self.show_uncertainty,
            "uncertainty_scale": self.uncertainty_scale,
            "uncertainty_range": list(self.uncertainty_range),
            "uncertainty_colours": self.uncertainty_colours,
            "hidden": list(self.hidden),
            "tools": None if self.tools is None else list(self.tools),
            "arm": self.arm,
        }

    def in_step(self, k: int) -> StepRules:
        """These rules as shown in step ``k`` (the step number and the title's ``Step k:``)."""
        rest = _STEP_TITLE.sub("", self.title)
        title = f"Step {k}: {rest[:1].lower()}{rest[1:]}" if rest else f"Step {k}"
        return replace(self, step=int(k), title=title)

    @classmethod
    def from_dict(cls, d: dict, version: int = FORMAT_VERSION) -> StepRules:
        """Inverse of :meth:`to_dict` (a version-1 step shows the dose: it had no such category)."""
        lo, hi = (float(v) for v in d.get("uncertainty_range", UNCERTAINTY_RANGE))
        hidden_default = tuple(h for h in DEFAULT_HIDDEN if h != "dose") if version < 2 else DEFAULT_HIDDEN
        tools = d.get("tools")
        if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, str) for t in tools)):
            raise TypeError(f"step {d.get('step')}: tools must be a list of tool names or null")
        colours = d.get("uncertainty_colours")
        return cls(
            int(d["step"]),
            str(d.get("title", "")),
            str(d.get("instructions", "")),
            bool(d["show_uncertainty"]),
            str(d.get("uncertainty_scale", "fixed")),
            (lo, hi),
            tuple(str(h) for h in d.get("hidden", hidden_default)),
            None if colours is None else str(colours),
            None if tools is None else tuple(tools),
            str(d.get("arm") or ""),
        )


def refuse_repeats(what: str, items: Sequence[str]) -> None:
    """ValueError when an item is listed twice, or two differ only in case (one file on Windows and macOS)."""
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


def default_steps(show_dose: bool = False) -> tuple[StepRules, ...]:
    """The published protocol: step 1 without, step 2 with the uncertainty map (fixed 0-0.5 scale).

    The dose is hidden in both steps unless ``show_dose``; the map then keeps the published rainbow,
    and a study that shows the dose gets the distinct magenta scale for the map instead.
    """
    hidden = tuple(h for h in DEFAULT_HIDDEN if not (show_dose and h == "dose"))
    return (
        StepRules(
            1,
            "Step 1: rate and edit without the uncertainty map",
            "Rate the DL segmentation, then correct it. The uncertainty map is not shown.",
            show_uncertainty=False,
            hidden=hidden,
        ),
        StepRules(
            2,
            "Step 2: rate and edit with the uncertainty map",
            "Rate the DL segmentation, then correct it. The DL uncertainty map is shown on a fixed 0 to 0.5 scale.",
            show_uncertainty=True,
            hidden=hidden,
        ),
    )


@dataclass(frozen=True)
class StudyDefinition:
    """Everything ``study init`` decides; once observers have started, only ``study add-observer`` changes it.

    Parameters
    ----------
    name : str
        Free-text title.
    created_at : str
        ISO UTC time of ``study init``.
    dataset_root : str
        The dataset root: relative to the study folder when it can be (so a study and its dataset
        can move together), else absolute. A session may be pointed at a copy (see ``patient_files``).
    dataset_root_absolute : str
        The absolute root at init, used when the relative one does not hold the patients (the
        study folder was moved alone).
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
        Gaps between two events up to this long count in full as active time.
    idle_tail_s : float
        What a longer gap counts (see :mod:`lundprobe_gui.session.activetime`).
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
    show_clock : bool
        Whether observers see their running active time (hidden by default: a visible clock is a cue).
    uncertainty_missing : dict
        Patients taken in although a step that shows the uncertainty map has no map for some of their
        structures (``--allow-missing-uncertainty``): patient to structures.
    patient_files : dict
        Per patient, the files a case shows (relative to the patient folder) with their sha256 and
        size, so a copy of the dataset can be checked before it is used.
    observer_pins : dict
        Per observer, the hash of a PIN asked when the observer's session opens (optional).
    design : str
        ``sequential`` (everyone sees the arms in the order of ``steps``) or ``crossover`` (the
        order is counterbalanced across observers, see :mod:`lundprobe_gui.study.design`).
    arm_orders : dict
        Per observer, the arm of each step (computed from the design and the seed when empty, and
        recorded in ``study.json`` so it can be audited).
    step_questions : tuple of Question
        The end-of-step questionnaire, asked once an observer has finished every case of a step.

    Notes
    -----
    ``steps`` lists the study's arms (their rules) in the listed order; what an observer is shown
    in step ``k`` is :meth:`rules_for` (``observer``, ``k``), never ``steps[k - 1]`` in a crossover.
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
    idle_tail_s: float = DEFAULT_IDLE_TAIL_S
    show_clock: bool = False
    uncertainty_missing: dict[str, tuple[str, ...]] = field(default_factory=dict)
    patient_files: dict[str, dict[str, dict]] = field(default_factory=dict)
    observer_pins: dict[str, AdminSecret] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    dataset_root_absolute: str = ""
    design: str = "sequential"
    arm_orders: dict[str, tuple[str, ...]] = field(default_factory=dict)
    step_questions: tuple[Question, ...] = ()

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
            refuse_repeats(what, items)
        validate_text(self.name, "study name", 200)
        if [s.step for s in self.steps] != list(range(1, len(self.steps) + 1)):
            raise ValueError("steps must be numbered 1, 2, ... in order")
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError(f"question ids listed twice: {ids}")
        ids = [q.id for q in self.step_questions]
        if len(set(ids)) != len(ids):
            raise ValueError(f"step question ids listed twice: {ids}")
        self._check_arms()
        if not (math.isfinite(self.washout_days) and self.washout_days >= 0):
            raise ValueError("washout_days must be a number >= 0")
        IdleRule(self.idle_timeout_s, self.idle_tail_s)  # raises ValueError with the reason
        unknown = sorted(
            (set(self.uncertainty_missing) | set(self.observer_pins)) - set(self.patients + self.observers)
        )
        if unknown:
            raise ValueError(f"uncertainty_missing or observer_pins name unknown patients or observers: {unknown}")

    def _check_arms(self) -> None:
        names = [s.arm for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"arms listed twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
        if self.design not in DESIGNS:
            raise ValueError(f"design must be one of {', '.join(DESIGNS)}, not {self.design!r}")
        if not self.arm_orders:
            object.__setattr__(self, "arm_orders", arm_orders(self.design, names, self.observers, self.seed))
        orders = {str(o): tuple(str(a) for a in v) for o, v in self.arm_orders.items()}
        object.__setattr__(self, "arm_orders", orders)
        if set(orders) != set(self.observers):
            raise ValueError("arm_orders must give the order of every observer, and only theirs")
        for o, order in orders.items():
            if sorted(order) != sorted(names):
                raise ValueError(f"arm_orders of {o}: {list(order)} is not an order of the arms {names}")
            if self.design == "sequential" and list(order) != names:
                raise ValueError(f"arm_orders of {o}: a sequential design shows the arms in the listed order {names}")

    # -- queries ---------------------------------------------------------------------------------
    def step(self, k: int) -> StepRules:
        """The rules listed at position ``k`` (KeyError when there is none).

        That is what step ``k`` shows in a sequential design only; ask :meth:`rules_for` what an
        observer is shown.
        """
        for s in self.steps:
            if s.step == k:
                return s
        raise KeyError(f"the study has no step {k} (steps: {[s.step for s in self.steps]})")

    @property
    def arms(self) -> tuple[StepRules, ...]:
        """The arms' rules, in the listed order."""
        return self.steps

    def arm(self, name: str) -> StepRules:
        """An arm's rules by name (KeyError when absent)."""
        for s in self.steps:
            if s.arm == name:
                return s
        raise KeyError(f"the study has no arm {name!r} (arms: {', '.join(s.arm for s in self.steps)})")

    def arm_of(self, observer: str, k: int) -> str:
        """The arm ``observer`` is shown in step ``k`` (KeyError for an unknown observer or step)."""
        order = self.arm_orders[observer]
        if not 1 <= int(k) <= len(order):
            raise KeyError(f"the study has no step {k} (steps: 1..{len(order)})")
        return order[int(k) - 1]

    def rules_for(self, observer: str, k: int) -> StepRules:
        """What ``observer`` is shown in step ``k``: the rules of the design's arm, numbered as step ``k``."""
        return self.arm(self.arm_of(observer, k)).in_step(k)

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

    @property
    def idle_rule(self) -> IdleRule:
        """The active-time rule of this study."""
        return IdleRule(self.idle_timeout_s, self.idle_tail_s)

    def dataset_path(self, study_dir: str | Path) -> Path:
        """The recorded dataset root as a path.

        A relative root is relative to the study folder (a study and its dataset moved together);
        when the patients are not there, the absolute root recorded at init is used if they are
        there (the study folder moved alone on the same computer).
        """
        root = Path(self.dataset_root)
        if root.is_absolute():
            return root
        rel = Path(study_dir) / root
        if self.dataset_root_absolute and not (rel / self.patients[0]).is_dir():
            absolute = Path(self.dataset_root_absolute)
            if (absolute / self.patients[0]).is_dir():
                return absolute
        return rel

    def patient_dir(self, patient: str, dataset_root: Path | None = None) -> Path:
        """A patient's folder (in ``dataset_root`` when given, else the recorded root as written)."""
        return Path(dataset_root or self.dataset_root) / patient

    def uncertainty_available(self, patient: str, structure: str) -> bool:
        """Whether the patient has the structure's uncertainty map (as checked by ``study init``)."""
        return structure not in self.uncertainty_missing.get(patient, ())

    # -- JSON ------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-ready form (the content of ``study.json``)."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "created_at": self.created_at,
            "dataset_root": self.dataset_root,
            "dataset_root_absolute": self.dataset_root_absolute,
            "patients": list(self.patients),
            "structures": list(self.structures),
            "observers": list(self.observers),
            "start_source": self.start_source,
            "frame": self.frame,
            "randomisation": {"seed": self.seed, **RECIPE},
            "washout_days": self.washout_days,
            "idle_timeout_seconds": self.idle_timeout_s,
            "idle_tail_seconds": self.idle_tail_s,
            "show_clock": self.show_clock,
            "preset": self.preset,
            "steps": [s.to_dict() for s in self.steps],
            "questions": [q.to_dict() for q in self.questions],
            "design": self.design,
            "arm_orders": {o: list(self.arm_orders[o]) for o in self.observers},
            **({"arm_order_recipe": ORDER_RECIPE} if self.design == "crossover" else {}),
            "step_questions": [q.to_dict() for q in self.step_questions],
            "admin": self.admin.to_dict() if self.admin else None,
            "observer_pins": {o: p.to_dict() for o, p in sorted(self.observer_pins.items())},
            "uncertainty_missing": {p: list(v) for p, v in sorted(self.uncertainty_missing.items())},
            "patient_files": self.patient_files,
        }

    @classmethod
    def from_dict(cls, d: Any, origin: str = "study.json") -> StudyDefinition:
        """Validate and build; :class:`CorruptStudyFile` names the first problem found."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise CorruptStudyFile(f'{origin}: not a lundprobe_gui study definition (no "format": "{FORMAT}")')
        version = d.get("format_version")
        if version not in READ_VERSIONS:
            raise CorruptStudyFile(
                f"{origin}: format_version {version!r} is not supported "
                f"(this version reads {', '.join(map(str, READ_VERSIONS))})"
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
                steps=_named_arms(tuple(StepRules.from_dict(s, version) for s in d["steps"])),
                questions=tuple(Question.from_dict(q) for q in d["questions"]),
                admin=AdminSecret.from_dict(d["admin"]) if d.get("admin") else None,
                frame=str(d.get("frame", "MRI")),
                idle_tail_s=float(d.get("idle_tail_seconds", DEFAULT_IDLE_TAIL_S)),
                show_clock=bool(d.get("show_clock", version < 2)),
                uncertainty_missing={
                    str(p): tuple(_strings(v, "uncertainty_missing"))
                    for p, v in _dict(d, "uncertainty_missing").items()
                },
                patient_files={str(p): dict(v) for p, v in _dict(d, "patient_files").items()},
                observer_pins={str(o): AdminSecret.from_dict(v) for o, v in _dict(d, "observer_pins").items()},
                format_version=int(version),
                dataset_root_absolute=str(d.get("dataset_root_absolute") or ""),
                design=str(d.get("design", "sequential")),
                arm_orders={str(o): tuple(_strings(v, "arm_orders")) for o, v in _dict(d, "arm_orders").items()},
                step_questions=tuple(Question.from_dict(q) for q in d.get("step_questions") or ()),
            )
        except KeyError as e:
            raise CorruptStudyFile(f"{origin}: missing field {e}") from e
        except (InvalidName, ValueError, TypeError) as e:
            raise CorruptStudyFile(f"{origin}: {e}") from e


def _named_arms(steps: tuple[StepRules, ...]) -> tuple[StepRules, ...]:
    """Steps of a definition written before arms: two steps that showed the same get ``<arm>_step<k>``."""
    names = [s.arm for s in steps]
    return tuple(replace(s, arm=f"{s.arm}_step{s.step}") if names.count(s.arm) > 1 else s for s in steps)


def _dict(d: dict, key: str) -> dict:
    value = d.get(key) or {}
    if not isinstance(value, dict):
        raise TypeError(f"{key} must be an object")
    return value


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
