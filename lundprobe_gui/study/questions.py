"""Rating questions: Likert scales and free text, with the validation of answers.

The result table always has the columns ``quality``, ``confidence`` and ``comment``; a study may
ask other questions too (``study init --questions FILE``), each of which becomes one more column
of ``results.csv`` after ``comment``, named by its id.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.text import validate_text
from ..io.small_files import read_json_file

logger = logging.getLogger(__name__)

QUESTION_IDS = ("quality", "confidence", "comment")
"""The standard questions; each is a column of ``results.csv`` whether it is asked or not."""
KEY_COLUMNS = ("observer", "step", "arm", "patient", "pseudonym", "structure")
"""The keys of a ``results.csv`` row (before the answers): ``step`` is the session order, ``arm`` what was shown."""
VALUE_COLUMNS = (
    "active_seconds",
    "uncertainty_visible_seconds",
    "uncertainty_available",
    "started_at",
    "finished_at",
    "start_mask",
    "output_file",
    "output_sha256",
    "voxels_added",
    "voxels_removed",
    "unlocks",
    "reopened_after_step",
)
"""The columns of ``results.csv`` after the answers."""
RESERVED_IDS = KEY_COLUMNS + VALUE_COLUMNS
"""Names of other ``results.csv`` columns, which a question id may not take."""
_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

KINDS = ("likert", "text")
MAX_TEXT = 4000


@dataclass(frozen=True)
class Choice:
    """One point of a Likert scale."""

    value: int
    label: str

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"value": self.value, "label": self.label}


@dataclass(frozen=True)
class Question:
    """A question asked for every structure of every case.

    Parameters
    ----------
    id : str
        ``quality``, ``confidence`` or ``comment`` (the results column it fills).
    kind : str
        ``likert`` (one of ``choices``) or ``text`` (free text up to ``max_length`` characters).
    text : str
        The question as shown to the observer.
    required : bool
        Whether editing may start (and the case finish) only once it is answered.
    choices : tuple of Choice
        The scale, lowest value first (Likert only).
    scale : str
        A name for the scale, recorded for the analysis (e.g. ``quality_4``).
    max_length : int
        Longest accepted answer (text only).
    """

    id: str
    kind: str
    text: str
    required: bool = True
    choices: tuple[Choice, ...] = field(default_factory=tuple)
    scale: str = ""
    max_length: int = MAX_TEXT

    def __post_init__(self) -> None:
        if not _ID.match(self.id) or self.id in RESERVED_IDS:
            raise ValueError(
                f"question id {self.id!r}: use lower-case letters, digits and _ (a letter first, at most 40), "
                f"and not a name of another results.csv column ({', '.join(RESERVED_IDS)})"
            )
        validate_text(self.text, f"the text of question {self.id}", 1000)
        for c in self.choices:
            validate_text(c.label, f"a label of question {self.id}", 300)
        if self.kind not in KINDS:
            raise ValueError(f"question {self.id}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.kind == "likert":
            values = [c.value for c in self.choices]
            if len(values) < 2 or len(set(values)) != len(values):
                raise ValueError(f"question {self.id}: a Likert scale needs at least two distinct values")
        elif self.choices:
            raise ValueError(f"question {self.id}: a text question has no choices")

    @property
    def freezes_on_edit(self) -> bool:
        """Scale answers rate the starting mask, so they are fixed once editing begins; text is not."""
        return self.kind == "likert"

    def validate(self, value: Any) -> int | str:
        """Return the normalised answer or raise ``ValueError`` saying what is accepted."""
        if self.kind == "likert":
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise ValueError(f"{self.id}: expected one of {self.values()}, got {value!r}")
            try:
                v = int(value)
            except ValueError:
                raise ValueError(f"{self.id}: expected one of {self.values()}, got {value!r}") from None
            if v not in self.values():
                raise ValueError(f"{self.id}: {v} is not on the scale {self.values()}")
            return v
        if not isinstance(value, str):
            raise ValueError(f"{self.id}: expected text, got {type(value).__name__}")
        return validate_text(value, f"the {self.id}", self.max_length)

    def values(self) -> list[int]:
        """The scale's values (empty for text)."""
        return [c.value for c in self.choices]

    def is_answered(self, value: Any) -> bool:
        """Whether a stored answer counts as given (empty text does not)."""
        if value is None:
            return False
        return bool(value.strip()) if isinstance(value, str) else True

    def to_dict(self) -> dict:
        """JSON-ready form."""
        d: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "text": self.text,
            "required": self.required,
            "scale": self.scale,
        }
        if self.kind == "likert":
            d["choices"] = [c.to_dict() for c in self.choices]
        else:
            d["max_length"] = self.max_length
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Question:
        """Inverse of :meth:`to_dict`; ``ValueError``/``KeyError``/``TypeError`` on bad input."""
        choices = tuple(Choice(int(c["value"]), str(c["label"])) for c in d.get("choices", []))
        return cls(
            id=str(d["id"]),
            kind=str(d["kind"]),
            text=str(d["text"]),
            required=_flag(d.get("required", True)),
            choices=choices,
            scale=str(d.get("scale", "")),
            max_length=int(d.get("max_length", MAX_TEXT)),
        )


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"required must be true or false, not {value!r}")
    return value


def load_questions_file(path: str | Path) -> tuple[Question, ...]:
    """Questions from a JSON file: a list of questions, or ``{"questions": [...]}``.

    Each question is ``{"id", "kind": "likert"|"text", "text", "required", "scale",
    "choices": [{"value", "label"}, ...]}`` (``choices`` for Likert scales, ``max_length`` for text).

    Raises
    ------
    ValueError
        Naming the file and what is wrong with it.
    """
    path = Path(path)
    try:
        data = read_json_file(path, what="questions file")
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot read the questions ({e})") from None
    items = data.get("questions") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise ValueError(f'{path}: expected a list of questions, or {{"questions": [...]}}')
    out = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ValueError(f"{path}: question {i} is not an object")
        try:
            out.append(Question.from_dict(item))
        except KeyError as e:
            raise ValueError(f"{path}: question {i} has no {e}") from None
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: question {i}: {e}") from None
    ids = [q.id for q in out]
    dup = sorted({x for x in ids if ids.count(x) > 1})
    if dup:
        raise ValueError(f"{path}: question ids listed twice: {', '.join(dup)}")
    return tuple(out)


def missing_answers(questions: tuple[Question, ...], answers: dict[str, Any]) -> list[str]:
    """IDs of the required questions without an answer; ``answers`` maps id to an object with ``.value``."""
    out = []
    for q in questions:
        a = answers.get(q.id)
        if q.required and (a is None or not q.is_answered(a.value)):
            out.append(q.id)
    return out
