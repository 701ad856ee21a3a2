"""The Study dock: the case (by pseudonym), progress, structure, rating questions and the case buttons.

The panel is a view: it shows a :class:`PanelCase` built by the study mode from the
:class:`~lundprobe_gui.study.ObserverSession` and reports what the observer does through signals.
It never sees the patient ID or any path.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from typing import Any

from PySide6 import QtCore, QtWidgets

logger = logging.getLogger(__name__)

COMMENT_DEBOUNCE_MS = 800


@dataclass(frozen=True)
class StructureInfo:
    """One structure of the case as the panel lists it."""

    name: str
    rated: bool
    editing_started: bool
    saves: int


@dataclass(frozen=True)
class PanelCase:
    """Everything the panel shows for the current case (no patient ID, no path)."""

    observer: str
    step: int
    step_title: str
    instructions: str
    pseudonym: str
    position: int
    total: int
    finished: int
    progress_text: str
    structures: tuple[StructureInfo, ...]
    active: str
    ratings: dict[str, Any] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    frozen: bool = False
    editing_now: bool = False
    can_finish: bool = False
    uncertainty_shown: bool = False


def format_seconds(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss`` from an hour)."""
    s = int(max(0.0, seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class StudyPanel(QtWidgets.QWidget):
    """Case header, progress, structures, questions (Likert radio buttons, comment) and buttons."""

    rated = QtCore.Signal(str, object)  # question id, Likert value
    comment_edited = QtCore.Signal(str, str)  # question id, text (debounced)
    structure_chosen = QtCore.Signal(str)
    edit_requested = QtCore.Signal()
    next_requested = QtCore.Signal()
    finish_requested = QtCore.Signal()
    unlock_requested = QtCore.Signal()
    override_requested = QtCore.Signal()
    end_requested = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.case: PanelCase | None = None
        self._filling = False
        self.questions: tuple = ()
        self.likert: dict[str, QtWidgets.QButtonGroup] = {}
        self.likert_boxes: dict[str, QtWidgets.QGroupBox] = {}
        self.texts: dict[str, QtWidgets.QPlainTextEdit] = {}
        self._sent_text: dict[str, str] = {}
        self._comment_timer = QtCore.QTimer(self)
        self._comment_timer.setSingleShot(True)
        self._comment_timer.setInterval(COMMENT_DEBOUNCE_MS)
        self._comment_timer.timeout.connect(self.flush_comment)

        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        self.observer_label = QtWidgets.QLabel("")
        self.observer_label.setStyleSheet("color: #666;")
        outer.addWidget(self.observer_label)
        self.stack = QtWidgets.QStackedWidget()
        outer.addWidget(self.stack, 1)

        # -- page 0: a case --------------------------------------------------------------
        inner = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(inner)
        lay.setContentsMargins(0, 0, 4, 0)
        page = QtWidgets.QScrollArea()  # the questions scroll; the case buttons below stay in view
        page.setWidget(inner)
        page.setWidgetResizable(True)
        page.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        page.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.step_label = QtWidgets.QLabel("")
        self.step_label.setWordWrap(True)
        self.step_label.setStyleSheet("font-weight: bold;")
        self.case_label = QtWidgets.QLabel("")
        self.case_label.setStyleSheet("font-size: 20px; font-weight: bold;")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setTextVisible(True)
        self.instructions = QtWidgets.QLabel("")
        self.instructions.setWordWrap(True)
        self.instructions.setStyleSheet("color: #555;")
        self.uncertainty_label = QtWidgets.QLabel("")
        self.uncertainty_label.setWordWrap(True)
        lay.addWidget(self.step_label)
        lay.addWidget(self.case_label)
        lay.addWidget(self.progress)
        lay.addWidget(self.instructions)
        lay.addWidget(self.uncertainty_label)

        sbox = QtWidgets.QGroupBox("Structures")
        sl = QtWidgets.QVBoxLayout(sbox)
        self.structure_list = QtWidgets.QListWidget()
        self.structure_list.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.structure_list.itemClicked.connect(self._structure_clicked)
        self.structure_label = QtWidgets.QLabel("")
        self.structure_label.setStyleSheet("font-size: 15px; font-weight: bold;")
        sl.addWidget(self.structure_list)
        sl.addWidget(self.structure_label)
        lay.addWidget(sbox)

        self.ratings_box = QtWidgets.QGroupBox("Rate the starting segmentation")
        self.ratings_layout = QtWidgets.QVBoxLayout(self.ratings_box)
        lay.addWidget(self.ratings_box)
        self.hint = QtWidgets.QLabel("")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #a15c00;")
        lay.addWidget(self.hint)

        lay.addStretch(1)
        self.stack.addWidget(page)
        self.case_actions = QtWidgets.QWidget()
        cl = QtWidgets.QVBoxLayout(self.case_actions)
        cl.setContentsMargins(0, 4, 0, 0)
        row = QtWidgets.QHBoxLayout()
        self.edit_btn = QtWidgets.QPushButton("Edit")
        self.edit_btn.setToolTip("Correct the starting segmentation (after the ratings)")
        self.next_btn = QtWidgets.QPushButton("Next structure")
        row.addWidget(self.edit_btn)
        row.addWidget(self.next_btn)
        cl.addLayout(row)
        self.finish_btn = QtWidgets.QPushButton("Finish case")
        self.finish_btn.setToolTip("Save every structure, lock the case and go to the next one")
        cl.addWidget(self.finish_btn)
        self.time_label = QtWidgets.QLabel("Active time 0:00")
        self.time_label.setStyleSheet("font-family: monospace;")
        self.time_label.setWordWrap(True)
        cl.addWidget(self.time_label)

        # -- page 1: waiting for the washout, or finished ------------------------------------
        msg = QtWidgets.QWidget()
        ml = QtWidgets.QVBoxLayout(msg)
        ml.setContentsMargins(0, 0, 0, 0)
        self.message_title = QtWidgets.QLabel("")
        self.message_title.setStyleSheet("font-size: 16px; font-weight: bold;")
        self.message_title.setWordWrap(True)
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        ml.addWidget(self.message_title)
        ml.addWidget(self.message)
        ml.addStretch(1)
        self.stack.addWidget(msg)

        outer.addWidget(self.case_actions)

        # -- always: admin and end -----------------------------------------------------------
        self.admin_box = QtWidgets.QGroupBox("Study administrator")
        al = QtWidgets.QHBoxLayout(self.admin_box)
        self.unlock_btn = QtWidgets.QPushButton("Unlock a case...")
        self.override_btn = QtWidgets.QPushButton("Override washout...")
        al.addWidget(self.unlock_btn)
        al.addWidget(self.override_btn)
        outer.addWidget(self.admin_box)
        self.admin_box.setVisible(False)
        self.end_btn = QtWidgets.QPushButton("End study session")
        self.end_btn.setToolTip("Everything is saved; the next session resumes here")
        outer.addWidget(self.end_btn)

        self.edit_btn.clicked.connect(self.edit_requested)
        self.next_btn.clicked.connect(self.next_requested)
        self.finish_btn.clicked.connect(self.finish_requested)
        self.unlock_btn.clicked.connect(self.unlock_requested)
        self.override_btn.clicked.connect(self.override_requested)
        self.end_btn.clicked.connect(self.end_requested)

    # -- questions ------------------------------------------------------------------------
    def set_questions(self, questions) -> None:
        """Build the rating widgets of the study's questions (radio buttons for Likert, text box for text)."""
        while self.ratings_layout.count():
            item = self.ratings_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.questions = tuple(questions)
        self.likert, self.likert_boxes, self.texts, self._sent_text = {}, {}, {}, {}
        for q in self.questions:
            req = "" if q.required else " (optional)"
            if q.kind == "likert":
                box = QtWidgets.QGroupBox()
                bl = QtWidgets.QVBoxLayout(box)
                bl.setSpacing(1)
                bl.setContentsMargins(6, 4, 6, 4)
                text = QtWidgets.QLabel(f"<b>{html.escape(q.text + req)}</b>")
                text.setWordWrap(True)
                bl.addWidget(text)
                group = QtWidgets.QButtonGroup(box)
                group.setExclusive(True)
                for c in q.choices:
                    b = QtWidgets.QRadioButton(f"{c.value}  {c.label}")
                    b.setObjectName(f"{q.id}_{c.value}")
                    group.addButton(b, int(c.value))
                    bl.addWidget(b)
                group.idClicked.connect(lambda v, qid=q.id: self._likert_clicked(qid, v))
                self.likert[q.id] = group
                self.likert_boxes[q.id] = box
                self.ratings_layout.addWidget(box)
            else:
                label = QtWidgets.QLabel(q.text)
                label.setWordWrap(True)
                te = QtWidgets.QPlainTextEdit()
                te.setObjectName(q.id)
                te.setMaximumHeight(70)
                te.setPlaceholderText("Free text")
                te.textChanged.connect(lambda qid=q.id: self._text_changed(qid))
                self.texts[q.id] = te
                self.ratings_layout.addWidget(label)
                self.ratings_layout.addWidget(te)

    def _likert_clicked(self, qid: str, value: int) -> None:
        if not self._filling:
            self.rated.emit(qid, int(value))

    def _text_changed(self, qid: str) -> None:
        if not self._filling:
            self._comment_timer.start()

    def flush_comment(self) -> None:
        """Report a comment still being typed now (before switching structure, finishing or quitting)."""
        self._comment_timer.stop()
        for qid, te in self.texts.items():
            text = te.toPlainText()
            if text != self._sent_text.get(qid, ""):
                self._sent_text[qid] = text
                self.comment_edited.emit(qid, text)

    def _structure_clicked(self, item: QtWidgets.QListWidgetItem) -> None:
        name = item.data(QtCore.Qt.ItemDataRole.UserRole)
        if self.case is not None and name != self.case.active:
            self.structure_chosen.emit(str(name))

    # -- showing --------------------------------------------------------------------------
    def set_observer(self, text: str) -> None:
        """The line above everything (study and observer)."""
        self.observer_label.setText(text)

    def set_admin(self, available: bool, waiting: bool = False) -> None:
        """Show the admin buttons only when the study has an admin PIN."""
        self.admin_box.setVisible(available)
        self.override_btn.setEnabled(available and waiting)

    def show_case(self, case: PanelCase) -> None:
        """Show the current case."""
        new_structure = self.case is None or (self.case.pseudonym, self.case.active) != (case.pseudonym, case.active)
        if new_structure:
            self._comment_timer.stop()  # the study mode flushed the comment before switching
        self.case = case
        self._filling = True
        try:
            self.stack.setCurrentIndex(0)
            self.case_actions.setVisible(True)
            self.step_label.setText(case.step_title)
            self.case_label.setText(case.pseudonym)
            # QProgressBar repaints at once when its value changes: only when it does
            if self.progress.maximum() != max(1, case.total):
                self.progress.setRange(0, max(1, case.total))
            if self.progress.value() != case.position:
                self.progress.setValue(case.position)
            if self.progress.format() != case.progress_text:
                self.progress.setFormat(case.progress_text)
            self.instructions.setText(case.instructions)
            self.uncertainty_label.setText(
                "Uncertainty map: shown (fixed scale 0 to 0.5)"
                if case.uncertainty_shown
                else "Uncertainty map: not shown in this step"
            )
            self.structure_list.clear()
            rows = max(1, len(case.structures))
            self.structure_list.setFixedHeight(rows * (self.structure_list.fontMetrics().height() + 4) + 6)
            for info in case.structures:
                marks = []
                marks.append("rated" if info.rated else "not rated")
                if info.saves:
                    marks.append(f"saved {info.saves}x")
                elif info.editing_started:
                    marks.append("editing")
                item = QtWidgets.QListWidgetItem(f"{info.name}  ({', '.join(marks)})")
                item.setData(QtCore.Qt.ItemDataRole.UserRole, info.name)
                self.structure_list.addItem(item)
                if info.name == case.active:
                    item.setSelected(True)
                    self.structure_list.setCurrentItem(item)
            self.structure_label.setText(f"Structure: {case.active}")
            self.ratings_box.setTitle(f"Rate the starting segmentation of {case.active}")
            for qid, group in self.likert.items():
                value = case.ratings.get(qid)
                group.setExclusive(False)
                for b in group.buttons():
                    b.setChecked(value is not None and group.id(b) == int(value))
                group.setExclusive(True)
                self.likert_boxes[qid].setEnabled(not case.frozen)
                self.likert_boxes[qid].setToolTip("Fixed: editing of this structure has begun" if case.frozen else "")
            for qid, te in self.texts.items():
                text = str(case.ratings.get(qid) or "")
                pending = not new_structure and te.toPlainText() != self._sent_text.get(qid, "")
                if not pending:  # never overwrite what the observer is still typing
                    if te.toPlainText() != text:
                        te.setPlainText(text)
                    self._sent_text[qid] = text
            can_edit = not case.missing
            self.edit_btn.setEnabled(can_edit)
            self.edit_btn.setText(
                ("Editing " if case.editing_now else "Continue editing " if case.frozen else "Edit ") + case.active
            )
            names = [s.name for s in case.structures]
            self.next_btn.setEnabled(names.index(case.active) < len(names) - 1 if case.active in names else False)
            self.finish_btn.setEnabled(case.can_finish)
            if case.missing:
                self.hint.setText(f"Answer {', '.join(case.missing)} first: editing starts after the ratings.")
            elif not case.can_finish:
                self.hint.setText("Rate every structure before finishing the case.")
            else:
                self.hint.setText("")
        finally:
            self._filling = False

    def show_message(self, title: str, text: str) -> None:
        """Waiting for the washout, or every step finished."""
        self._comment_timer.stop()  # the study mode flushed the comment before the case ended
        self.case = None
        self.stack.setCurrentIndex(1)
        self.case_actions.setVisible(False)
        self.message_title.setText(title)
        self.message.setText(html.escape(text).replace("\n", "<br>"))

    def set_clock_visible(self, visible: bool) -> None:
        """Show the live active-time clock only when the study shows it (hidden by default: it is a cue)."""
        self.time_label.setVisible(visible)
        if not visible:
            self.time_label.setText("")

    def set_time(self, structure_s: float, case_s: float) -> None:
        """The live active-time clock."""
        name = self.case.active if self.case else ""
        self.time_label.setText(
            f"Active time {format_seconds(structure_s)} on {name}, {format_seconds(case_s)} on this case"
        )
