"""The Edit panel: what to edit, the tools and their settings, constraints, statistics, save."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6 import QtCore, QtWidgets

from ..edit.constraint import AreaMode, EditConstraint
from ..edit.registry import tool_class
from .edit_controller import TOOL_ORDER, EditController
from .tool_options import ToolOptions

logger = logging.getLogger(__name__)


class EditPanel(QtWidgets.QWidget):
    """Forwards choices to the :class:`EditController`; shows its statistics."""

    tool_chosen = QtCore.Signal(str)
    save_requested = QtCore.Signal()
    apply_requested = QtCore.Signal()
    undo_requested = QtCore.Signal()
    redo_requested = QtCore.Signal()

    def __init__(self, ctrl: EditController, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctrl = ctrl
        self.extra_stats: Callable[[], str] | None = None
        """A further statistics line (the comparison with the start), shown under the live statistics."""
        lay = QtWidgets.QVBoxLayout(self)
        lay.setSpacing(6)
        # Top to bottom in order of use, the essentials first so that a 1366x768 screen shows them
        # without scrolling: what is edited, the tools, the current tool's settings, undo/redo/save
        # and the live statistics. The editable area comes last, its settings summed up in its title.

        what = QtWidgets.QGroupBox("Structure")
        fw = QtWidgets.QFormLayout(what)
        _compact(fw)
        self.source_combo = QtWidgets.QComboBox()
        self.source_combo.setToolTip("Structure (and the source it starts from)")
        self.target = QtWidgets.QLineEdit("step1_obsF")
        self.target.setToolTip("Source name the edits are saved under, e.g. step1_obsF (inputs are never changed)")
        self.start_btn = QtWidgets.QPushButton("Edit a copy")
        self.new_name = QtWidgets.QLineEdit()
        self.new_name.setPlaceholderText("new structure name")
        self.new_btn = QtWidgets.QPushButton("New empty")
        self.reset_btn = QtWidgets.QPushButton("Reset to it")
        self.reset_btn.setToolTip("Make the working copy equal to the structure chosen above again")
        self.copy_btn = QtWidgets.QPushButton("Copy from it")
        self.copy_btn.setToolTip("Replace the working copy with the structure chosen above (one undo step)")
        self.active_label = QtWidgets.QLabel("Not editing")
        self.active_label.setWordWrap(True)
        fw.addRow("Start from", self.source_combo)
        fw.addRow("Save as", self.target)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.start_btn)
        row.addWidget(self.reset_btn)
        row.addWidget(self.copy_btn)
        fw.addRow(row)
        row2 = QtWidgets.QHBoxLayout()
        row2.addWidget(self.new_name)
        row2.addWidget(self.new_btn)
        fw.addRow(row2)
        fw.addRow("Editing", self.active_label)
        lay.addWidget(what)

        tools = QtWidgets.QGroupBox("Tools")
        grid = QtWidgets.QGridLayout(tools)
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setSpacing(3)
        self.tool_buttons: dict[str, QtWidgets.QToolButton] = {}
        group = QtWidgets.QButtonGroup(self)
        for i, name in enumerate(TOOL_ORDER):
            cls = tool_class(name)
            b = QtWidgets.QToolButton()
            b.setText(f"{cls.shortcut} {cls.label}" if cls.shortcut else cls.label)
            b.setToolTip(cls.description)
            b.setCheckable(True)
            b.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed)
            b.clicked.connect(lambda _=False, n=name: self.tool_chosen.emit(n))
            group.addButton(b)
            grid.addWidget(b, i // 2, i % 2)
            self.tool_buttons[name] = b
        lay.addWidget(tools)

        # the settings of the current tool only, under its name
        self.settings_box = QtWidgets.QGroupBox("Tool settings")
        fo = QtWidgets.QVBoxLayout(self.settings_box)
        fo.setContentsMargins(6, 4, 6, 4)
        self.tool_pages = QtWidgets.QStackedWidget()
        self.tool_options: dict[str, ToolOptions] = {}
        for name in TOOL_ORDER:
            page = ToolOptions(tool_class(name), ctrl.settings[name])
            _compact(page.form)
            page.changed.connect(lambda field, n=name: self.ctrl.option_changed(n, field))
            self.tool_options[name] = page
            self.tool_pages.addWidget(page)
        # a stacked widget is as large as its largest page: only the current page's size counts
        self.tool_pages.currentChanged.connect(self._fit_page)
        self._fit_page(0)
        self.tool_note = QtWidgets.QLabel("")
        self.tool_note.setWordWrap(True)
        self.apply_btn = QtWidgets.QPushButton("Apply (Enter)")
        fo.addWidget(self.tool_pages)
        fo.addWidget(self.tool_note)
        fo.addWidget(self.apply_btn)
        lay.addWidget(self.settings_box)

        hist = QtWidgets.QHBoxLayout()
        self.undo_btn = QtWidgets.QPushButton("Undo")
        self.undo_btn.setToolTip("Ctrl+Z")
        self.redo_btn = QtWidgets.QPushButton("Redo")
        self.redo_btn.setToolTip("Ctrl+Shift+Z")
        self.save_btn = QtWidgets.QPushButton("Save (Ctrl+S)")
        hist.addWidget(self.undo_btn)
        hist.addWidget(self.redo_btn)
        hist.addWidget(self.save_btn)
        lay.addLayout(hist)
        self.stats = QtWidgets.QLabel("")
        self.stats.setStyleSheet("font-family: monospace;")
        lay.addWidget(self.stats)

        self.area_toggle = QtWidgets.QToolButton()
        self.area_toggle.setCheckable(True)
        self.area_toggle.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.area_toggle.setArrowType(QtCore.Qt.ArrowType.RightArrow)
        self.area_toggle.setAutoRaise(True)
        self.area_toggle.setToolTip("Where edits may change the structure (3D Slicer's 'Masking')")
        lay.addWidget(self.area_toggle)
        cons = QtWidgets.QWidget()
        fc = QtWidgets.QFormLayout(cons)
        _compact(fc)
        self.area_mode = QtWidgets.QComboBox()
        self.area_mode.addItems(["everywhere", "inside", "outside"])
        self.area_struct = QtWidgets.QComboBox()
        self.intensity_on = QtWidgets.QCheckBox("Only intensities from")
        self.int_lo = QtWidgets.QDoubleSpinBox()
        self.int_hi = QtWidgets.QDoubleSpinBox()
        for sp in (self.int_lo, self.int_hi):
            sp.setRange(-5000, 40000)
            sp.setDecimals(0)
        self.int_hi.setValue(1000)
        self.locked = QtWidgets.QListWidget()
        self.locked.setMaximumHeight(90)
        fc.addRow("Area", self.area_mode)
        fc.addRow("of", self.area_struct)
        fc.addRow(self.intensity_on)
        r3 = QtWidgets.QHBoxLayout()
        r3.addWidget(self.int_lo)
        r3.addWidget(QtWidgets.QLabel("to"))
        r3.addWidget(self.int_hi)
        fc.addRow(r3)
        fc.addRow(QtWidgets.QLabel("Locked structures (never overwritten):"))
        fc.addRow(self.locked)
        self.area_box = cons
        cons.setVisible(False)
        lay.addWidget(cons)
        lay.addStretch(1)
        self.area_toggle.toggled.connect(self._show_area)
        self._show_area(False)

        self.apply_btn.clicked.connect(self.apply_requested)
        self.undo_btn.clicked.connect(self.undo_requested)
        self.redo_btn.clicked.connect(self.redo_requested)
        self.save_btn.clicked.connect(self.save_requested)
        for w in (self.area_mode, self.area_struct):
            w.currentIndexChanged.connect(self.update_constraint)
        self.intensity_on.toggled.connect(self.update_constraint)
        self.int_lo.valueChanged.connect(self.update_constraint)
        self.int_hi.valueChanged.connect(self.update_constraint)
        self.locked.itemChanged.connect(self.update_constraint)
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)  # statistics need not update at every brush stamp
        self._timer.timeout.connect(self.refresh)
        ctrl.changed.connect(self._timer.start)

    # -- population ----------------------------------------------------------------------
    def populate(self, structures: list[tuple[str, str]]) -> None:
        """The (name, source) pairs that may be opened for editing."""
        for combo in (self.source_combo, self.area_struct):
            combo.blockSignals(True)
            combo.clear()
        self.locked.blockSignals(True)
        self.locked.clear()
        for name, source in structures:
            label = f"{name} [{source}]"
            self.source_combo.addItem(label, (name, source))
            self.area_struct.addItem(label, (name, source))
            if source == "clinical":
                item = QtWidgets.QListWidgetItem(name)
                item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(QtCore.Qt.CheckState.Unchecked)
                item.setData(QtCore.Qt.ItemDataRole.UserRole, (name, source))
                self.locked.addItem(item)
        self.select("CTVT_427", "nnUNet")
        for combo in (self.source_combo, self.area_struct):
            combo.blockSignals(False)
        self.locked.blockSignals(False)
        self.refresh()

    def chosen(self) -> tuple[str, str] | None:
        """The (name, source) picked in the combo."""
        data = self.source_combo.currentData()
        return None if data is None else (str(data[0]), str(data[1]))

    def select(self, name: str, source: str) -> bool:
        """Pick (name, source) in the combo; False when it is not offered."""
        for i in range(self.source_combo.count()):
            data = self.source_combo.itemData(i)
            if data is not None and tuple(data) == (name, source):
                self.source_combo.setCurrentIndex(i)
                return True
        return False

    # -- settings ------------------------------------------------------------------------
    def _fit_page(self, index: int) -> None:
        for i in range(self.tool_pages.count()):
            policy = QtWidgets.QSizePolicy.Policy.Preferred if i == index else QtWidgets.QSizePolicy.Policy.Ignored
            page = self.tool_pages.widget(i)
            if page is not None:
                page.setSizePolicy(policy, policy)
        self.tool_pages.adjustSize()

    def option(self, tool: str, name: str) -> QtWidgets.QWidget:
        """The widget of one option of one tool (e.g. ``option("margin", "margin_mm")``)."""
        return self.tool_options[tool].widget(name)

    def _show_area(self, on: bool) -> None:
        self.area_box.setVisible(on)
        self.area_toggle.setArrowType(QtCore.Qt.ArrowType.DownArrow if on else QtCore.Qt.ArrowType.RightArrow)
        if not self.area_toggle.text():
            self._area_summary("")

    def _area_summary(self, text: str) -> None:
        # the settings stay in sight when folded away: an active restriction is what blocks a brush
        self.area_toggle.setText(f"Editable area: {text or 'everywhere'}")
        self.area_toggle.setStyleSheet("color: #c0392b; font-weight: bold;" if text else "")

    def update_constraint(self, *_a) -> None:
        """Build the editing constraint from the widgets."""
        c = self.ctrl
        if c.patient is None:
            return
        area = None
        area_mode: AreaMode | None = None
        said = []
        if self.area_mode.currentText() != "everywhere" and self.area_struct.currentData():
            n, s = self.area_struct.currentData()
            area = c.patient.mask_obj(n, s)
            area_mode = "outside" if self.area_mode.currentText() == "outside" else "inside"
            said.append(f"{area_mode} {n}")
        locked, locked_names = [], []
        for i in range(self.locked.count()):
            it = self.locked.item(i)
            if it.checkState() == QtCore.Qt.CheckState.Checked:
                n, s = it.data(QtCore.Qt.ItemDataRole.UserRole)
                locked.append(c.patient.mask_obj(n, s))
                locked_names.append(n)
        rng = (self.int_lo.value(), self.int_hi.value()) if self.intensity_on.isChecked() else None
        if rng is not None:
            said.append(f"intensities {rng[0]:g} to {rng[1]:g}")
        if locked_names:
            said.append("locked " + ", ".join(locked_names))
        self._area_summary("; ".join(said))
        if area is None and not locked and rng is None:
            c.set_constraint(None)
            return
        c.set_constraint(
            EditConstraint(
                area=area,
                area_mode=area_mode or "inside",
                intensity_range=rng,
                image=c.patient.image() if rng else None,
                locked=locked,
                description="; ".join(said),
            )
        )

    def refresh(self) -> None:
        """Show the active structure, tool and live statistics."""
        c = self.ctrl
        for name, b in self.tool_buttons.items():
            b.setChecked(name == c.tool_name)
            why = c.why_not(name)
            b.setEnabled(c.tool_set.permits(name))
            b.setToolTip(tool_class(name).description + (f"\n({why})" if why else ""))
        page = self.tool_options[c.tool_name]
        page.sync()
        self.tool_pages.setCurrentWidget(page)
        cls = tool_class(c.tool_name)
        why = c.why_not(c.tool_name)
        self.settings_box.setTitle(cls.label)
        self.tool_note.setText(f"{cls.label}: {why}" if why else cls.apply_text and f"Enter: {cls.apply_text}")
        self.tool_note.setVisible(bool(self.tool_note.text()))
        self.apply_btn.setVisible(bool(cls.apply_text))
        self.apply_btn.setEnabled(bool(cls.apply_text) and why is None)
        if c.session is None or c.active is None:
            self.active_label.setText("Not editing: choose a structure and press 'Edit a copy'")
            self.stats.setText("")
            self.undo_btn.setEnabled(False)  # nothing to undo before editing starts
            self.redo_btn.setEnabled(False)
            return
        key = c.active
        dirty = " (unsaved)" if c.session.is_dirty(key) else ""
        self.active_label.setText(f"{key[0]} -> {key[1]}{dirty}")
        st = c.session.stats(key)
        dice = "n/a" if st.dice is None else f"{st.dice:.4f}"
        extra = self.extra_stats() if self.extra_stats is not None else ""
        self.stats.setText(
            f"added {st.added_cc:.3f} cc   removed {st.removed_cc:.3f} cc\n"
            f"Dice vs start {dice}   slices touched {len(st.slices_touched)}" + (f"\n{extra}" if extra else "")
        )
        self.undo_btn.setEnabled(c.session.history.can_undo)
        self.redo_btn.setEnabled(c.session.history.can_redo)


def _compact(form: QtWidgets.QFormLayout) -> None:
    form.setVerticalSpacing(4)
    form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
