"""The AI-review panel: case progress, the 5-point scale with its definitions, per-segment rating and
correction buttons, the two comment boxes, the active time and "Finish case".

The panel is passive: it shows what :class:`lundprobe_gui.ui.review_mode.ReviewMode` tells it and
reports the reviewer's choices through signals. Only user actions emit them (a radio button set by
the program does not), so showing a case never rates anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6 import QtCore, QtWidgets

from ..review import LIKERT_SCALE, STATEMENT, level

logger = logging.getLogger(__name__)

COMMENT_LABELS = {
    "segmentation": "Comment on the segmentation (optional)",
    "findings": "Comment on the findings (optional)",
}


@dataclass(frozen=True)
class SegmentRow:
    """What the segment table shows for one segment."""

    name: str
    score: int | None
    status: str


def format_seconds(seconds: float) -> str:
    """``h:mm:ss`` for the active-time label."""
    s = int(max(0.0, seconds))
    return f"{s // 3600}:{(s % 3600) // 60:02d}:{s % 60:02d}"


class ReviewPanel(QtWidgets.QWidget):
    """Rating, correcting and commenting the open case of an AI review."""

    segment_selected = QtCore.Signal(str)
    rated = QtCore.Signal(str, int)  # segment, score (a click on a radio button)
    correct_requested = QtCore.Signal(str)
    save_requested = QtCore.Signal(str)
    discard_requested = QtCore.Signal(str)
    comment_edited = QtCore.Signal(str, str)  # kind ("segmentation" / "findings"), text
    finish_requested = QtCore.Signal()
    case_chosen = QtCore.Signal(str)
    resume_requested = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._segment: str | None = None
        lay = QtWidgets.QVBoxLayout(self)

        # -- case and progress ------------------------------------------------------------
        self.title = QtWidgets.QLabel("No review open: Review > Start AI review...")
        self.title.setWordWrap(True)
        f = self.title.font()
        f.setBold(True)
        self.title.setFont(f)
        lay.addWidget(self.title)
        self.progress_label = QtWidgets.QLabel("")
        self.progress_label.setWordWrap(True)
        lay.addWidget(self.progress_label)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFormat("%v of %m finished")
        lay.addWidget(self.progress)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Go to case"))
        self.case_combo = QtWidgets.QComboBox()
        self.case_combo.setToolTip("Open another case of the list (a finished case can be reviewed again)")
        self.case_combo.activated.connect(self._case_activated)
        row.addWidget(self.case_combo, 1)
        lay.addLayout(row)
        self.time_label = QtWidgets.QLabel("Active review time 0:00:00")
        self.time_label.setToolTip(
            "Counted while the case is open and in use: the clock pauses 2 minutes after "
            "the last input and while the window is minimised"
        )
        lay.addWidget(self.time_label)
        self.resume_btn = QtWidgets.QPushButton("Back to the review")
        self.resume_btn.setToolTip("Show the review's case again")
        self.resume_btn.clicked.connect(self.resume_requested)
        self.resume_btn.hide()
        lay.addWidget(self.resume_btn)

        # -- segments ---------------------------------------------------------------------
        self.case_box = QtWidgets.QWidget()
        cl = QtWidgets.QVBoxLayout(self.case_box)
        cl.setContentsMargins(0, 0, 0, 0)
        self.segment_table = QtWidgets.QTableWidget(0, 3)
        self.segment_table.setHorizontalHeaderLabels(["Segment", "Rating", "Correction"])
        self.segment_table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.segment_table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.segment_table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.segment_table.verticalHeader().setVisible(False)
        hh = self.segment_table.horizontalHeader()
        for col, mode in (
            (0, hh.ResizeMode.ResizeToContents),
            (1, hh.ResizeMode.ResizeToContents),
            (2, hh.ResizeMode.Stretch),
        ):
            hh.setSectionResizeMode(col, mode)
        self.segment_table.itemSelectionChanged.connect(self._selection_changed)
        cl.addWidget(self.segment_table)

        # -- the scale, with its definitions beside the radio buttons ----------------------
        self.rating_box = QtWidgets.QGroupBox("Rating")
        rl = QtWidgets.QVBoxLayout(self.rating_box)
        self.statement = QtWidgets.QLabel(f"<i>\u201c{STATEMENT}\u201d</i>")
        self.statement.setWordWrap(True)
        rl.addWidget(self.statement)
        grid = QtWidgets.QGridLayout()
        grid.setColumnStretch(1, 1)
        grid.setVerticalSpacing(4)
        self.rating_group = QtWidgets.QButtonGroup(self)
        self.rating_group.setExclusive(True)
        self.rating_buttons: dict[int, QtWidgets.QRadioButton] = {}
        self.rating_meanings: dict[int, QtWidgets.QLabel] = {}
        for i, lv in enumerate(LIKERT_SCALE):
            b = QtWidgets.QRadioButton(f"{lv.score}  {lv.label}")
            b.setToolTip(lv.text() + ("" if lv.allows_correction else " (no correction)"))
            self.rating_group.addButton(b, lv.score)
            meaning = QtWidgets.QLabel(lv.meaning + ("" if lv.allows_correction else " \u2014 not corrected"))
            meaning.setWordWrap(True)
            meaning.setToolTip(lv.text())
            meaning.setBuddy(b)
            grid.addWidget(b, i, 0, QtCore.Qt.AlignmentFlag.AlignTop)
            grid.addWidget(meaning, i, 1)
            self.rating_buttons[lv.score] = b
            self.rating_meanings[lv.score] = meaning
        self.rating_group.idClicked.connect(self._rating_clicked)
        rl.addLayout(grid)
        cl.addWidget(self.rating_box)

        # -- correction -------------------------------------------------------------------
        corr = QtWidgets.QGroupBox("Correction")
        corr_layout = QtWidgets.QVBoxLayout(corr)
        brow = QtWidgets.QHBoxLayout()
        self.correct_btn = QtWidgets.QPushButton("Correct")
        self.save_btn = QtWidgets.QPushButton("Save correction")
        self.save_btn.setToolTip("Save the correction of this segment to the review now (Finish case saves too)")
        self.discard_btn = QtWidgets.QPushButton("Discard correction")
        self.discard_btn.setToolTip("Go back to the AI segment")
        for btn in (self.correct_btn, self.save_btn, self.discard_btn):
            brow.addWidget(btn)
        corr_layout.addLayout(brow)
        self.correction_label = QtWidgets.QLabel("")
        self.correction_label.setWordWrap(True)
        corr_layout.addWidget(self.correction_label)
        self.correct_btn.clicked.connect(lambda: self._emit_for_segment(self.correct_requested))
        self.save_btn.clicked.connect(lambda: self._emit_for_segment(self.save_requested))
        self.discard_btn.clicked.connect(lambda: self._emit_for_segment(self.discard_requested))
        cl.addWidget(corr)

        # -- comments ---------------------------------------------------------------------
        self.comments: dict[str, QtWidgets.QPlainTextEdit] = {}
        for kind, label in COMMENT_LABELS.items():
            cl.addWidget(QtWidgets.QLabel(label))
            box = QtWidgets.QPlainTextEdit()
            box.setPlaceholderText("free text")
            box.setFixedHeight(56)
            box.setTabChangesFocus(True)
            box.textChanged.connect(lambda k=kind, b=box: self.comment_edited.emit(k, b.toPlainText()))
            cl.addWidget(box)
            self.comments[kind] = box
        self.seg_comment = self.comments["segmentation"]
        self.find_comment = self.comments["findings"]

        self.finish_btn = QtWidgets.QPushButton("Finish case")
        self.finish_btn.setToolTip("Save the corrections, write review-results.csv and open the next case")
        self.finish_btn.clicked.connect(self.finish_requested)
        cl.addWidget(self.finish_btn)
        lay.addWidget(self.case_box)
        self.done_label = QtWidgets.QLabel("")
        self.done_label.setWordWrap(True)
        self.done_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.done_label)
        lay.addStretch(1)
        self.case_box.setEnabled(False)

    # -- what the mode shows ------------------------------------------------------------------
    def set_review(self, reviewer: str, review_dir: str) -> None:
        """A review was opened."""
        self.title.setText(f"AI review by {reviewer}")
        self.title.setToolTip(review_dir)

    def set_cases(self, cases: list[tuple[str, str]], current: str | None) -> None:
        """The case list as (case ID, status); ``current`` is the open case (None: none open)."""
        ids = [c for c, _ in cases]
        done = sum(1 for _, s in cases if s == "done")
        self.case_combo.blockSignals(True)
        self.case_combo.clear()
        for i, (cid, status) in enumerate(cases):
            self.case_combo.addItem(f"{i + 1}. {cid} ({status})", cid)
        if current in ids:
            self.case_combo.setCurrentIndex(ids.index(current))
        self.case_combo.blockSignals(False)
        self.progress.setRange(0, max(1, len(cases)))
        self.progress.setValue(done)
        if current in ids:
            self.progress_label.setText(f"Case {ids.index(current) + 1} of {len(cases)}: <b>{current}</b>")
        elif cases and done == len(cases):
            self.progress_label.setText(f"All {len(cases)} cases are finished")
        else:
            self.progress_label.setText("No case open")

    def set_segments(self, rows: list[SegmentRow], select: str | None = None) -> None:
        """Fill the segment table (keeping the selection when possible)."""
        keep = select or self._segment
        t = self.segment_table
        t.blockSignals(True)
        t.setRowCount(len(rows))
        for i, r in enumerate(rows):
            for j, text in enumerate((r.name, "" if r.score is None else str(r.score), r.status)):
                item = t.item(i, j)
                if item is None:
                    item = QtWidgets.QTableWidgetItem()
                    t.setItem(i, j, item)
                item.setText(text)
                item.setData(QtCore.Qt.ItemDataRole.UserRole, r.name)
                if j == 0:
                    item.setToolTip("" if r.score is None else level(r.score).text())
        names = [r.name for r in rows]
        if keep not in names:
            keep = names[0] if names else None
        if keep is not None:
            t.selectRow(names.index(keep))
        rows_shown = min(max(len(rows), 1), 6)
        t.setFixedHeight(
            t.horizontalHeader().sizeHint().height()
            + rows_shown * t.verticalHeader().defaultSectionSize()
            + 2 * t.frameWidth()
        )
        t.blockSignals(False)
        self._segment = keep

    def set_segment_state(
        self,
        name: str | None,
        score: int | None,
        refusal: str | None,
        correcting: bool,
        can_save: bool,
        can_discard: bool,
        status: str,
    ) -> None:
        """Show the selected segment's rating and what may be done with it now."""
        self._segment = name
        self.rating_box.setTitle(f"Rating of {name}" if name else "Rating")
        self.rating_group.setExclusive(False)  # lets a rating be shown as "none"
        for s, b in self.rating_buttons.items():
            b.setChecked(s == score)
        self.rating_group.setExclusive(True)
        can_edit = name is not None and refusal is None
        self.correct_btn.setEnabled(can_edit)
        self.correct_btn.setToolTip(
            refusal
            or (
                f"{'Continue editing' if correcting else 'Edit'} a working copy of {name} with the brush"
                if name
                else ""
            )
        )
        self.save_btn.setEnabled(can_save)
        self.discard_btn.setEnabled(can_discard)
        self.correction_label.setText(status)

    def set_finish_state(self, unrated: list[str]) -> None:
        """Finish is possible only when every segment is rated."""
        self.finish_btn.setEnabled(not unrated)
        self.finish_btn.setToolTip(
            "Save the corrections, write review-results.csv and open the next case"
            if not unrated
            else f"Rate every segment first: {', '.join(unrated)}"
        )

    def set_comments(self, comments: dict[str, str]) -> None:
        """Show a case's comments (without reporting them as edits)."""
        for kind, box in self.comments.items():
            box.blockSignals(True)
            box.setPlainText(comments.get(kind, ""))
            box.blockSignals(False)

    def set_active_time(self, seconds: float) -> None:
        """The open case's active review time."""
        self.time_label.setText(f"Active review time {format_seconds(seconds)}")

    def set_case_open(self, open_: bool, message: str = "", paused: bool = False) -> None:
        """Enable the rating widgets while a case is open; otherwise show ``message``."""
        self.case_box.setEnabled(open_)
        self.done_label.setText(message)
        self.resume_btn.setVisible(paused)

    @property
    def segment(self) -> str | None:
        """The selected segment."""
        return self._segment

    def select_segment(self, name: str) -> bool:
        """Select a segment as if clicked (emits ``segment_selected``)."""
        for i in range(self.segment_table.rowCount()):
            item = self.segment_table.item(i, 0)
            if item is not None and item.text() == name:
                self.segment_table.selectRow(i)
                return True
        return False

    # -- signals ----------------------------------------------------------------------------
    def _selection_changed(self) -> None:
        rows = self.segment_table.selectionModel().selectedRows()
        if not rows:
            return
        item = self.segment_table.item(rows[0].row(), 0)
        if item is None:
            return
        name = item.text()
        self._segment = name
        self.segment_selected.emit(name)

    def _rating_clicked(self, score: int) -> None:
        if self._segment is not None:
            self.rated.emit(self._segment, int(score))

    def _emit_for_segment(self, signal) -> None:
        if self._segment is not None:
            signal.emit(self._segment)

    def _case_activated(self, index: int) -> None:
        cid = self.case_combo.itemData(index)
        if cid:
            self.case_chosen.emit(str(cid))

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(400, 760)
