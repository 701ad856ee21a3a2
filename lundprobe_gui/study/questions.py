"""Rating questions: Likert scales and free text, with the validation of answers.

The result table has exactly three rating columns (``quality``, ``confidence``, ``comment``), so
a study asks at most these three questions; a preset only changes their wording and scales.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..core.text import validate_text

logger = logging.getLogger(__name__)

QUESTION_IDS = ("quality", "confidence", "comment")
"""The question IDs a study may use; each is one column of ``results.csv``."""

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
        if self.id not in QUESTION_IDS:
            raise ValueError(
                f"question id {self.id!r} is not one of {', '.join(QUESTION_IDS)} "
                "(each question fills one column of results.csv)"
            )
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
    def from_dict(cls, d: dict) -> "Question":
        """Inverse of :meth:`to_dict`; ``ValueError``/``KeyError``/``TypeError`` on bad input."""
        choices = tuple(Choice(int(c["value"]), str(c["label"])) for c in d.get("choices", []))
        return cls(
            id=str(d["id"]),
            kind=str(d["kind"]),
            text=str(d["text"]),
            required=bool(d.get("required", True)),
            choices=choices,
            scale=str(d.get("scale", "")),
            max_length=int(d.get("max_length", MAX_TEXT)),
        )


def missing_answers(questions: tuple[Question, ...], answers: dict[str, Any]) -> list[str]:
    """IDs of the required questions without an answer; ``answers`` maps id to an object with ``.value``."""
    out = []
    for q in questions:
        a = answers.get(q.id)
        if q.required and (a is None or not q.is_answered(a.value)):
            out.append(q.id)
    return out
