"""The end-of-step questionnaire dialog: the study's ``step_questions`` after an observer's last case of a step.

Likert questions are a drop-down (``(no answer)`` first), text questions a text box. *Submit*
hands the answers to the session (which checks them and saves them with the session); *Later*
closes the dialog and keeps the questionnaire due (Study > Step questionnaire asks it again).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from PySide6 import QtWidgets

from ..study.errors import StudyError
from ..study.questions import Question

if TYPE_CHECKING:
    from ..study import ObserverSession
    from .main_window import MainWindow

logger = logging.getLogger(__name__)

SUBMIT, LATER = "Submit", "Later"


class StepQuestionnaireDialog(QtWidgets.QDialog):
    """One form: a row per question, *Submit* and *Later*.

    Parameters
    ----------
    parent : QWidget or None
        The window.
    step : int
        The step just finished.
    questions : sequence of Question
        The study's end-of-step questions.
    problem : str
        Why an earlier submission was refused (shown above the form), or empty.
    given : mapping, optional
        The answers of that submission, filled in again so nothing typed is lost.
    """

    def __init__(
        self,
        parent: QtWidgets.QWidget | None,
        step: int,
        questions: Sequence[Question],
        problem: str = "",
        given: Mapping[str, int | str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("stepQuestionnaire")
        self.setWindowTitle(f"Step {step} finished: questionnaire")
        self.setModal(True)
        self.questions = tuple(questions)
        self.fields: dict[str, QtWidgets.QComboBox | QtWidgets.QPlainTextEdit] = {}
        layout = QtWidgets.QVBoxLayout(self)
        intro = QtWidgets.QLabel(
            f"You have finished every case of step {step}. Please answer these questions about the step "
            "(questions marked * are required). Choose Later to answer them another time."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.problem = QtWidgets.QLabel(problem)
        self.problem.setObjectName("questionnaireProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #c0392b;")
        self.problem.setVisible(bool(problem))
        layout.addWidget(self.problem)
        form = QtWidgets.QFormLayout()
        for q in self.questions:
            label = QtWidgets.QLabel(q.text + (" *" if q.required else ""))
            label.setWordWrap(True)
            field: QtWidgets.QComboBox | QtWidgets.QPlainTextEdit
            if q.kind == "likert":
                field = QtWidgets.QComboBox()
                field.addItem("(no answer)", None)
                for c in q.choices:
                    field.addItem(f"{c.value}: {c.label}", c.value)
                if given and q.id in given:
                    field.setCurrentIndex(max(0, field.findData(given[q.id])))
            else:
                field = QtWidgets.QPlainTextEdit()
                field.setPlaceholderText("Your answer" + ("" if q.required else " (optional)"))
                field.setMinimumHeight(80)
                if given and q.id in given:
                    field.setPlainText(str(given[q.id]))
            field.setObjectName(f"question_{q.id}")
            form.addRow(label, field)
            self.fields[q.id] = field
        layout.addLayout(form)
        buttons = QtWidgets.QDialogButtonBox()
        self.submit_button = buttons.addButton(SUBMIT, QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        self.later_button = buttons.addButton(LATER, QtWidgets.QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(560, self.sizeHint().height())

    def answers(self) -> dict[str, int | str]:
        """The answers given (a Likert question left at ``(no answer)`` and empty text are left out)."""
        out: dict[str, int | str] = {}
        for qid, field in self.fields.items():
            if isinstance(field, QtWidgets.QComboBox):
                value = field.currentData()
                if value is not None:
                    out[qid] = int(value)
            else:
                text = field.toPlainText().strip()
                if text:
                    out[qid] = text
        return out


def ask_step_questionnaire(
    parent: QtWidgets.QWidget | None,
    step: int,
    questions: Sequence[Question],
    problem: str = "",
    given: Mapping[str, int | str] | None = None,
) -> dict[str, int | str] | None:
    """Show the questionnaire; the answers on *Submit*, None on *Later* (or when the dialog is closed)."""
    dialog = StepQuestionnaireDialog(parent, step, questions, problem, given)
    try:
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return None
        return dialog.answers()
    finally:
        dialog.deleteLater()


class StepQuestionnaireControl:
    """StudyMode's part that asks the questionnaire (a mixin: ``self`` is the StudyMode)."""

    session: ObserverSession | None
    window: MainWindow
    asking_questionnaire: bool = False
    """True while the dialog is open: its event loop must not load the next case behind it."""

    if TYPE_CHECKING:  # StudyMode's, which this mixin is part of

        @property
        def active(self) -> bool: ...

        def _update_menu(self) -> None: ...

        def _queue_refresh(self) -> None: ...

    def ask_step_questions(
        self,
        step: int,
        questions: Sequence[Question],
        problem: str = "",
        given: Mapping[str, int | str] | None = None,
    ) -> dict[str, int | str] | None:
        """The end-of-step answers, or None when the observer chose Later (tests replace this)."""
        return ask_step_questionnaire(self.window, step, questions, problem, given)

    def ask_questionnaire(self) -> bool:
        """Ask the due end-of-step questionnaire until it is submitted or put off; True once submitted.

        Put off (Later), it stays due: Study > Step questionnaire and the next session ask it again.
        """
        s = self.session
        if not self.active or s is None or (step := s.questionnaire_due()) is None:
            return False
        self.asking_questionnaire = True
        try:
            return self._ask_until_done(s, step)
        finally:
            self.asking_questionnaire = False
            self._queue_refresh()

    def _ask_until_done(self, s: ObserverSession, step: int) -> bool:
        problem: str = ""
        answers: dict[str, int | str] | None = None
        while True:
            answers = self.ask_step_questions(step, s.study.step_questions, problem, answers)
            if answers is None:
                self.window.statusBar().showMessage(
                    f"The questionnaire of step {step} is still to be answered (Study > Step questionnaire)", 8000
                )
                self._update_menu()
                return False
            try:
                s.answer_step_questionnaire(step, answers)
            except StudyError as e:
                problem = str(e)
                continue
            self.window.statusBar().showMessage(f"Thank you: the questionnaire of step {step} is saved", 5000)
            self._update_menu()
            return True
