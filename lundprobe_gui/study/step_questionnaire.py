"""The end-of-step questionnaire: asked once an observer has finished every case of a step.

The questions are the study's ``step_questions`` (``study init --step-questions FILE``, the JSON
format of ``--questions``; none by default). The answers are kept in the observer's session file
with the step (``questionnaire``, ``questionnaire_at``), written atomically like every other change,
and exported as the tidy ``step_questionnaire.csv`` (:data:`QUESTIONNAIRE_COLUMNS`, one row per
observer, step and question answered).

A questionnaire that is not submitted (the observer closed the dialog) stays due: the window asks
again, and the answers are never lost nor half-written. Once submitted, the answers are fixed.
Finishing a step's cases is what starts the washout; the questionnaire does not hold it back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from ..session.clock import Now, event_time, iso_utc
from .definition import StudyDefinition
from .errors import StudyError
from .questions import missing_answers
from .state import Answer, SessionState

if TYPE_CHECKING:
    from .session import ObserverSession

# The methods below are ObserverSession's, kept in a mixin so each module stays small: they annotate
# ``self`` as ObserverSession, which mypy flags as a self type that is not a supertype of the mixin.

logger = logging.getLogger(__name__)

QUESTIONNAIRE_FILE = "step_questionnaire.csv"
QUESTIONNAIRE_COLUMNS = ("observer", "step", "arm", "question", "answer", "answered_at")


class StepQuestionnaire:
    """Asking and answering the end-of-step questionnaire."""

    def questionnaire_due(self: ObserverSession) -> int | None:  # type: ignore[misc]  # mixin: self is its ObserverSession
        """The first step whose cases are all finished and whose questionnaire is not submitted (None: none due)."""
        if not self.study.step_questions:
            return None
        for k, rec in sorted(self._state.steps.items()):
            if rec.completed_at is not None and rec.finished() and rec.questionnaire_at is None:
                return k
        return None

    def step_answers(self: ObserverSession, step: int) -> dict[str, Answer]:  # type: ignore[misc]  # mixin: self is its ObserverSession
        """The submitted answers of a step's questionnaire (empty when not submitted)."""
        rec = self._state.steps.get(int(step))
        return dict(rec.questionnaire) if rec is not None else {}

    def answer_step_questionnaire(  # type: ignore[misc]  # mixin: self is its ObserverSession
        self: ObserverSession, step: int, answers: Mapping[str, int | str], now: Now = None
    ) -> dict[str, Answer]:
        """Submit the questionnaire of a finished step; the answers are fixed from then on.

        Empty text counts as not answered (and is not stored); a required question must be answered.

        Raises
        ------
        StudyError
            For a step not finished, a questionnaire already submitted, an unknown question, a bad
            answer, or a required question left unanswered. Nothing is stored then.
        """
        self._check_open()
        questions = self.study.step_questions
        if not questions:
            raise StudyError("this study asks no end-of-step questionnaire")
        rec = self._state.steps.get(int(step))
        if rec is None or not rec.finished():
            raise StudyError(f"step {step} is not finished: its questionnaire comes after its last case")
        if rec.questionnaire_at is not None:
            raise StudyError(f"the questionnaire of step {step} was submitted at {rec.questionnaire_at}")
        known = {q.id: q for q in questions}
        unknown = sorted(set(answers) - set(known))
        if unknown:
            raise StudyError(f"the questionnaire asks no {', '.join(unknown)} (questions: {', '.join(known)})")
        t = event_time(now)
        values: dict[str, int | str] = {}
        for qid, value in answers.items():
            try:
                v = known[qid].validate(value)
            except ValueError as e:
                raise StudyError(str(e)) from None
            if known[qid].is_answered(v):
                values[qid] = v
        stamped = {qid: Answer(v, iso_utc(t)) for qid, v in values.items()}
        missing = missing_answers(questions, stamped)
        if missing:
            asked = "; ".join(f"'{known[q].text}' ({q})" for q in missing)
            raise StudyError(f"the questionnaire of step {step} needs an answer to {asked}")
        with self._event("step_questionnaire", t, step=int(step), answered=sorted(stamped)):
            rec.questionnaire = stamped
            rec.questionnaire_at = iso_utc(t)
            self._emit_later("questionnaire", step=int(step))
        return dict(stamped)


def questionnaire_rows(study: StudyDefinition, states: Mapping[str, SessionState | None]) -> Iterator[dict[str, str]]:
    """The rows of ``step_questionnaire.csv``: observer, step, arm, question, answer, answered_at."""
    for observer in study.observers:
        state = states.get(observer)
        if state is None:
            continue
        for k, rec in sorted(state.steps.items()):
            for q in study.step_questions:
                a = rec.questionnaire.get(q.id)
                if a is None:
                    continue
                yield {
                    "observer": observer,
                    "step": str(k),
                    "arm": study.arm_of(observer, k),
                    "question": q.id,
                    "answer": str(a.value),
                    "answered_at": a.at,
                }


def typed_questionnaire(rows: Iterable[Mapping[str, str]], origin: str) -> list[dict]:
    """Rows of a ``step_questionnaire.csv`` with ``step`` as an int (ValueError naming the file and row)."""
    out = []
    for i, r in enumerate(rows, start=2):
        try:
            step = int(r.get("step") or "")
        except ValueError:
            raise ValueError(f"{origin}: line {i}: step {r.get('step')!r} is not a step number") from None
        out.append({c: (step if c == "step" else str(r.get(c) or "")) for c in QUESTIONNAIRE_COLUMNS})
    return out
