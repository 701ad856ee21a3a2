"""The layer panel: structures grouped by source, plus dose, isodose, uncertainty and fiducials."""

from __future__ import annotations

import functools
import logging
import re

from PySide6 import QtCore, QtGui, QtWidgets

from ..core.patient import Patient
from ..core.regrid import resampled_note
from ..render.state import Key, ViewerState

logger = logging.getLogger(__name__)

KEY_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1
KIND_ROLE = QtCore.Qt.ItemDataRole.UserRole + 2
VERSION_ROLE = QtCore.Qt.ItemDataRole.UserRole + 3
SAVED_GROUP = "Saved edits"


def source_group(source: str) -> str:
    """The panel group of a source name."""
    if source == "clinical":
        return "Clinical"
    if source == "nnUNet":
        return "DL (nnUNet)"
    if source.startswith("nnUNet_fold_"):
        return "Folds"
    m = re.match(r"step(\d+)_", source)
    if m:
        return f"Observers, step {m.group(1)}"
    return "Edits and other sources"


def layer_label(name: str, source: str) -> str:
    """A structure's row text; its group already names the source ("Folds", "Observers, step 1")."""
    if source in ("clinical", "nnUNet"):
        return name
    fold = re.fullmatch(r"nnUNet_fold_(\d+)", source)
    if fold:
        return f"{name}  fold {fold.group(1)}"
    step = re.fullmatch(r"step\d+_(.+)", source)
    if step:
        return f"{name}  {step.group(1)}"
    return f"{name}  [{source}]"


def _children(item: QtWidgets.QTreeWidgetItem) -> list[QtWidgets.QTreeWidgetItem]:
    return [c for i in range(item.childCount()) if (c := item.child(i)) is not None]


def _swatch(colour: tuple[int, int, int]) -> QtGui.QIcon:
    pm = QtGui.QPixmap(14, 14)
    pm.fill(QtGui.QColor(*colour))
    return QtGui.QIcon(pm)


class LayerPanel(QtWidgets.QTreeWidget):
    """Visibility, colour, opacity, style and width of every layer; emits ``changed`` on any edit."""

    changed = QtCore.Signal()
    activated = QtCore.Signal(object)  # structure key double-clicked / selected for editing
    version_toggled = QtCore.Signal(object, int, bool)  # saved series key, version number, shown
    revert_requested = QtCore.Signal(object, int)  # saved series key, version number

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(["Layer", "Style"])
        # every name shown whole: columns fit their contents, and the panel scrolls sideways if it must
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.setTextElideMode(QtCore.Qt.TextElideMode.ElideNone)
        self.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.itemChanged.connect(self._item_changed)
        self.itemDoubleClicked.connect(self._double_clicked)
        # not ``state``: that would hide QAbstractItemView.state()
        self.viewer_state: ViewerState | None = None
        self._building = False
        self._groups: dict[str, QtWidgets.QTreeWidgetItem] = {}
        self.saved: dict[Key, list] = {}
        """Saved series read back from the output folder: key -> versions (SavedVersion), oldest first."""

    def content_width(self) -> int:
        """Width that shows both columns of every row whole, without a sideways scroll bar."""
        self.header().resizeSections(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        return self.header().length() + 2 * self.frameWidth() + self.verticalScrollBar().sizeHint().width()

    # -- building -------------------------------------------------------------------------
    def populate(self, patient: Patient, state: ViewerState) -> None:
        """Rebuild the tree for a patient (hidden sources are not listed at all)."""
        self.viewer_state = state
        self._building = True
        self.clear()
        self._groups = {}
        frame = patient.reference_frame
        self.saved = {}
        for ref in frame.structures.values():
            if ref.version is not None:
                try:
                    self.saved[ref.key] = patient.versions(ref.name, ref.source, ref.frame)
                except KeyError:
                    continue
        ov = QtWidgets.QTreeWidgetItem(self, ["Overlays"])
        ov.setFlags(ov.flags() & ~QtCore.Qt.ItemFlag.ItemIsUserCheckable)
        if frame.dose() is not None and state.dose_allowed:
            note = _note(frame.dose())  # a dose on another grid says so: "(resampled from 2.5 mm grid)"
            self._overlay(ov, f"Dose colour wash{note}", "dose_wash", state.dose.wash)
            self._overlay(ov, f"Isodose lines{note}", "isodose", state.dose.lines)
        if state.uncertainty_allowed:
            for name in sorted(frame.uncertainty):
                self._overlay(
                    ov,
                    f"Uncertainty {name}{_note(frame.uncertainty[name])}",
                    f"unc:{name}",
                    state.uncertainty.visible and name in state.uncertainty.maps,
                )
        if patient.fiducials:
            self._overlay(ov, "Fiducial markers", "fiducials", state.fiducials_on)
        ov.setExpanded(True)
        if ov.childCount() == 0:
            self.takeTopLevelItem(self.indexOfTopLevelItem(ov))
        for name, source in sorted(frame.structures, key=lambda k: (_order(k[1]), k[1], k[0])):
            if not state.allowed(source):
                continue
            self.add_structure((name, source, frame.name))
        for g in self._groups.values():
            g.setExpanded(g.text(0) in ("Clinical", "DL (nnUNet)", SAVED_GROUP))
            self._update_group_check(g)
        self._building = False

    def add_structure(self, key: Key) -> QtWidgets.QTreeWidgetItem:
        """Add one structure row (creating its group)."""
        assert self.viewer_state is not None
        was = self._building
        self._building = True
        group_name = SAVED_GROUP if key in self.saved else source_group(key[1])
        group = self._groups.get(group_name)
        if group is None:
            group = QtWidgets.QTreeWidgetItem(self, [group_name])
            group.setFlags(
                group.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable | QtCore.Qt.ItemFlag.ItemIsAutoTristate
            )
            group.setData(0, KIND_ROLE, "group")
            self._groups[group_name] = group
        st = self.viewer_state.style(key)
        label = layer_label(key[0], key[1])
        item = QtWidgets.QTreeWidgetItem(group, [label, st.mode])
        item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(0, QtCore.Qt.CheckState.Checked if st.visible else QtCore.Qt.CheckState.Unchecked)
        item.setIcon(0, _swatch(st.colour))
        item.setData(0, KEY_ROLE, key)
        item.setData(0, KIND_ROLE, "structure")
        item.setToolTip(0, f"{key[0]} from {key[1]} (double-click to pick a colour)")
        item.setToolTip(1, "Drawn as outline, fill or both (right-click to change)")
        if key in self.saved:
            self.set_versions(key, self.saved[key], item)
        self._building = was
        return item

    def set_versions(self, key: Key, versions: list, item: QtWidgets.QTreeWidgetItem | None = None) -> None:
        """Show a saved series' history under its row: one checkable row per version (check: show it)."""
        item = item or self.item_of(key)
        if item is None:
            return
        was = self._building
        self._building = True
        self.saved[key] = list(versions)
        rows = _children(item)
        shown = {c.data(0, VERSION_ROLE) for c in rows if c.checkState(0) == QtCore.Qt.CheckState.Checked}
        # rows are reused, never taken out: a taken item's wrapper may be deleted twice by PySide
        for i, v in enumerate(reversed(versions)):  # newest first
            child = rows[i] if i < len(rows) else QtWidgets.QTreeWidgetItem(item)
            child.setHidden(False)
            child.setText(0, v.summary())
            child.setFlags(child.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
            on = v.number in shown
            child.setCheckState(0, QtCore.Qt.CheckState.Checked if on else QtCore.Qt.CheckState.Unchecked)
            child.setData(0, KEY_ROLE, key)
            child.setData(0, KIND_ROLE, "version")
            child.setData(0, VERSION_ROLE, v.number)
            child.setToolTip(0, v.details() + "\n(check to show this version; right-click to revert to it)")
        for c in rows[len(versions) :]:
            c.setHidden(True)
        if versions:
            item.setText(0, f"{layer_label(key[0], key[1])}  {versions[-1].label}")
        self._building = was

    def item_of(self, key: Key) -> QtWidgets.QTreeWidgetItem | None:
        """The row of a structure key, or None."""
        it = QtWidgets.QTreeWidgetItemIterator(self)
        while it.value():
            if it.value().data(0, KIND_ROLE) == "structure" and it.value().data(0, KEY_ROLE) == key:
                return it.value()
            it += 1
        return None

    def _overlay(self, parent, text: str, kind: str, on: bool) -> None:
        item = QtWidgets.QTreeWidgetItem(parent, [text])
        item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(0, QtCore.Qt.CheckState.Checked if on else QtCore.Qt.CheckState.Unchecked)
        item.setData(0, KIND_ROLE, kind)

    def sync(self) -> None:
        """Refresh check boxes from the state (after keyboard toggles)."""
        if self.viewer_state is None:
            return
        self._building = True
        it = QtWidgets.QTreeWidgetItemIterator(self)
        while it.value():
            item = it.value()
            kind = item.data(0, KIND_ROLE)
            on = None
            if kind == "structure":
                on = self.viewer_state.style(item.data(0, KEY_ROLE)).visible
            elif kind == "dose_wash":
                on = self.viewer_state.dose.wash
            elif kind == "isodose":
                on = self.viewer_state.dose.lines
            elif kind == "fiducials":
                on = self.viewer_state.fiducials_on
            elif isinstance(kind, str) and kind.startswith("unc:"):
                on = self.viewer_state.uncertainty.visible and kind[4:] in self.viewer_state.uncertainty.maps
            if on is not None:
                item.setCheckState(0, QtCore.Qt.CheckState.Checked if on else QtCore.Qt.CheckState.Unchecked)
            it += 1
        for g in self._groups.values():
            self._update_group_check(g)
        self._building = False

    def _update_group_check(self, group: QtWidgets.QTreeWidgetItem) -> None:
        states = {c.checkState(0) for c in _children(group)}
        if states == {QtCore.Qt.CheckState.Checked}:
            group.setCheckState(0, QtCore.Qt.CheckState.Checked)
        elif states == {QtCore.Qt.CheckState.Unchecked} or not states:
            group.setCheckState(0, QtCore.Qt.CheckState.Unchecked)
        else:
            group.setCheckState(0, QtCore.Qt.CheckState.PartiallyChecked)

    # -- edits ----------------------------------------------------------------------------
    def _item_changed(self, item: QtWidgets.QTreeWidgetItem, column: int) -> None:
        if self._building or self.viewer_state is None or column != 0:
            return
        kind = item.data(0, KIND_ROLE)
        on = item.checkState(0) == QtCore.Qt.CheckState.Checked
        if kind == "structure":
            self.viewer_state.style(item.data(0, KEY_ROLE)).visible = on
        elif kind == "version":
            self.version_toggled.emit(item.data(0, KEY_ROLE), int(item.data(0, VERSION_ROLE)), on)
            return
        elif kind == "group":
            if item.checkState(0) == QtCore.Qt.CheckState.PartiallyChecked:
                return
            self.set_group_visible(item, on)
            return
        elif kind == "dose_wash":
            self.viewer_state.dose.wash = on
        elif kind == "isodose":
            self.viewer_state.dose.lines = on
        elif kind == "fiducials":
            self.viewer_state.fiducials_on = on
        elif isinstance(kind, str) and kind.startswith("unc:"):
            name = kind[4:]
            if on:
                self.viewer_state.uncertainty.maps.add(name)
                self.viewer_state.uncertainty.visible = True
            else:
                self.viewer_state.uncertainty.maps.discard(name)
        self.changed.emit()

    def set_group_visible(self, group: QtWidgets.QTreeWidgetItem, on: bool) -> None:
        """Show or hide every structure of a group."""
        if self.viewer_state is None:
            return
        for c in _children(group):
            self.viewer_state.style(c.data(0, KEY_ROLE)).visible = on
        self.sync()
        self.changed.emit()

    def solo(self, key: Key) -> None:
        """Show only this structure."""
        if self.viewer_state is None:
            return
        for k in list(self.viewer_state.layers):
            self.viewer_state.layers[k].visible = k == key
        self.viewer_state.structures_on = True
        self.sync()
        self.changed.emit()

    def _double_clicked(self, item: QtWidgets.QTreeWidgetItem, column: int) -> None:
        if item.data(0, KIND_ROLE) == "structure":
            self.pick_colour(item)

    def pick_colour(self, item: QtWidgets.QTreeWidgetItem) -> None:
        """Choose a structure's colour."""
        if self.viewer_state is None:
            return
        st = self.viewer_state.style(item.data(0, KEY_ROLE))
        col = QtWidgets.QColorDialog.getColor(QtGui.QColor(*st.colour), self, "Structure colour")
        if col.isValid():
            st.colour = (col.red(), col.green(), col.blue())
            item.setIcon(0, _swatch(st.colour))
            self.changed.emit()

    def _menu(self, pos: QtCore.QPoint) -> None:
        item = self.itemAt(pos)
        if item is None or self.viewer_state is None:
            return
        kind = item.data(0, KIND_ROLE)
        menu = QtWidgets.QMenu(self)
        if kind == "version":
            key, n = item.data(0, KEY_ROLE), int(item.data(0, VERSION_ROLE))
            menu.addAction(f"Show v{n:03d}", lambda: item.setCheckState(0, QtCore.Qt.CheckState.Checked))
            revert = menu.addAction(f"Revert to v{n:03d}", lambda: self.revert_requested.emit(key, n))
            revert.setToolTip("Saves a new version equal to this one")
            revert.setEnabled(n != self.saved.get(key, [None])[-1].number if self.saved.get(key) else False)
        elif kind == "group":
            menu.addAction("Show group", lambda: self.set_group_visible(item, True))
            menu.addAction("Hide group", lambda: self.set_group_visible(item, False))
        elif kind == "structure":
            key = item.data(0, KEY_ROLE)
            st = self.viewer_state.style(key)
            menu.addAction("Solo", lambda: self.solo(key))
            menu.addAction("Edit this structure", lambda: self.activated.emit(key))
            menu.addAction("Colour...", lambda: self.pick_colour(item))
            sm = menu.addMenu("Style")
            for mode in ("outline", "fill", "both"):
                a = sm.addAction(mode, functools.partial(self._set, item, key, mode=mode))
                a.setCheckable(True)
                a.setChecked(st.mode == mode)
            wm = menu.addMenu("Line width")
            for w in (1, 2, 3, 4):
                a = wm.addAction(f"{w} px", functools.partial(self._set, item, key, width=w))
                a.setCheckable(True)
                a.setChecked(st.width == w)
            om = menu.addMenu("Opacity")
            for o in (1.0, 0.75, 0.5, 0.25):
                a = om.addAction(f"{int(o * 100)} %", functools.partial(self._set, item, key, opacity=o))
                a.setCheckable(True)
                a.setChecked(abs(st.opacity - o) < 1e-6)
        else:
            return
        menu.exec(self.viewport().mapToGlobal(pos))

    def _set(self, item, key: Key, **kw) -> None:
        if self.viewer_state is None:
            return
        st = self.viewer_state.style(key)
        for k, v in kw.items():
            setattr(st, k, v)
        item.setText(1, st.mode)
        self.changed.emit()


def _note(vol) -> str:
    note = resampled_note(vol)
    return f" ({note})" if note else ""


def _order(source: str) -> int:
    if source == "clinical":
        return 0
    if source == "nnUNet":
        return 1
    if source.startswith("step"):
        return 2
    if source.startswith("nnUNet_fold"):
        return 4
    return 3
