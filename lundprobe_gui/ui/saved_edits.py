"""The correction loop in the window: saved edits come back with their history, editing continues from the
newest version, any version can be shown or reverted to, and one toggle compares the correction with its start.

Outside a study the target source is the user's own (``corrected_<user>``), editable and remembered.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6 import QtCore, QtWidgets

from ..core.mask import Box, Mask
from ..core.patient import Patient, StructureRef
from ..io.versions import check_series_name, user_name

if TYPE_CHECKING:
    from .main_window import MainWindow

logger = logging.getLogger(__name__)

TARGET_SETTING = "edit/target_source"
OUTPUT_SETTING = "output_dir"
VERSION_COLOURS = ((255, 170, 0), (160, 120, 255), (255, 255, 120), (120, 200, 255))
"""Colours of versions shown beside the newest (each shown version its own, in turn)."""


def own_source(name: str | None = None) -> str:
    """``corrected_<user>``: the default target source outside a study (a valid, non-version source name)."""
    user = re.sub(r"[^A-Za-z0-9_-]+", "_", name if name is not None else user_name()).strip("_") or "user"
    source = f"corrected_{user}"
    try:
        check_series_name(source, "source name")
    except ValueError:
        source += "_edits"  # a user called "v2" would give a name like a version's
    return source


def compare_counts(base: Mask, edited: Mask, voxel_cc: float) -> tuple[float, float, float | None]:
    """(added cc, removed cc, Dice) of ``edited`` against ``base``, computed on the union of their boxes."""
    boxes = [b for b in (base.box, edited.box) if b is not None]
    if not boxes:
        return 0.0, 0.0, None
    box: Box = tuple((min(b[a][0] for b in boxes), max(b[a][1] for b in boxes)) for a in range(3))  # type: ignore[assignment]
    a, b = base.read(box), edited.read(box)
    added, removed = int(np.count_nonzero(b & ~a)), int(np.count_nonzero(a & ~b))
    total = int(a.sum()) + int(b.sum())
    dice = 2.0 * int(np.count_nonzero(a & b)) / total if total else None
    return added * voxel_cc, removed * voxel_cc, dice


class SavedEdits(QtCore.QObject):
    """Wires saved-edit history, versions, revert and the compare toggle into a :class:`MainWindow`."""

    def __init__(self, win: MainWindow) -> None:
        super().__init__(win)
        self.win = win
        self.compare_on = False
        self._shown_versions: dict[tuple, tuple] = {}  # (key, number) -> scene key
        configured = win.settings.value(OUTPUT_SETTING, "")
        if configured and win.edit.out_dir is None and Path(str(configured)).is_dir():
            win.edit.out_dir = Path(str(configured))  # the remembered output folder: saves go there again
        win.loader.edits_dirs = [win.edit.out_dir, True]
        ep = win.edit_panel
        ep.target.setText(str(win.settings.value(TARGET_SETTING, "") or own_source()))
        ep.target.setToolTip(
            "Source name the edits are saved under (default corrected_<your user name>; remembered). "
            "Inputs are never changed"
        )
        ep.target.editingFinished.connect(self._remember_target)
        self.compare_btn = QtWidgets.QPushButton("Compare with start (X)")
        self.compare_btn.setCheckable(True)
        self.compare_btn.setToolTip(
            "Show what the correction changed against the mask it started from: added voxels green, removed "
            "magenta, in all three views"
        )
        box = ep.layout()
        assert isinstance(box, QtWidgets.QBoxLayout), "the edit panel is a column"
        box.insertWidget(box.indexOf(ep.stats) + 1, self.compare_btn)
        self.compare_btn.toggled.connect(self.set_compare)
        act = win.make_action("compare_start", "Compare with start (added / removed)", self.compare_btn.toggle)
        win.edit_menu.addAction(act)
        ep.extra_stats = self.compare_text
        win.layers.version_toggled.connect(self.show_version)
        win.layers.revert_requested.connect(self.revert)
        win.edit.saved.connect(self._after_save)
        win.edit.unchanged.connect(lambda msg: win.statusBar().showMessage(msg, 10000))
        win.edit.changed.connect(self._follow_active)
        win.patient_shown.connect(self._patient_shown)
        win.loader.finished.connect(self._loaded)

    # -- target source -------------------------------------------------------------------
    def _remember_target(self) -> None:
        if self.win.override is None and not self.win.edit_panel.target.isReadOnly():
            self.win.settings.setValue(TARGET_SETTING, self.win.edit_panel.target.text().strip())

    # -- opening ---------------------------------------------------------------------------
    def _patient_shown(self, patient: Patient) -> None:
        self._shown_versions = {}
        self.compare_btn.setChecked(False)
        self.win.loader.edits_dirs = [self.win.edit.out_dir, True]
        if self.win.override is not None:
            return
        # editing continues from the newest saved version of the user's own series
        target = self.win.edit_panel.target.text().strip()
        ref = patient.reference_frame.structures.get(("CTVT_427", target))
        if ref is None:
            ref = next((r for r in patient.reference_frame.structures.values() if r.source == target), None)
        if ref is not None and ref.version is not None:
            self.win.edit_panel.select(ref.name, ref.source)
        self._loaded(patient)

    def _loaded(self, patient: Patient) -> None:
        # said again once loading is over, as the loader's messages replace it meanwhile
        if patient is not self.win.patient or self.win.override is not None:
            return
        saved = [r for r in patient.reference_frame.structures.values() if r.version is not None]
        if not saved:
            return
        chosen = self.win.edit_panel.chosen()
        ref = next((r for r in saved if (r.name, r.source) == chosen), None)
        cont = f"; 'Edit a copy' continues {ref.name} ({ref.source}) from v{ref.version:03d}" if ref else ""
        folders = ", ".join(sorted({str(_output_root(Path(r.path), patient.id)) for r in saved}))
        self.win.statusBar().showMessage(f"{len(saved)} saved edit(s) read back from {folders}{cont}", 20000)

    # -- after a save --------------------------------------------------------------------
    def _after_save(self, _path: str) -> None:
        patient, state, layers = self.win.patient, self.win.state, self.win.layers
        if patient is None or state is None:
            return
        refs = [r for r in patient.reference_frame.structures.values() if r.version is not None]
        if any(r.key not in layers.saved for r in refs):
            layers.populate(patient, state)  # a first save: the series moves to "Saved edits"
            session = self.win.edit.session
            for key in session.keys() if session is not None else []:
                skey = self.win.edit.scene_key(key)
                if layers.item_of(skey) is None:  # a working copy not saved yet keeps its row
                    layers.add_structure(skey)
            layers.sync()
            return
        for ref in refs:
            layers.set_versions(ref.key, patient.versions(ref.name, ref.source, ref.frame))

    # -- versions -----------------------------------------------------------------------
    def version_mask(self, key: tuple, number: int) -> Mask | None:
        """The voxels of one saved version (checked against its sidecar), or None (the reason in the status bar)."""
        patient = self.win.patient
        if patient is None:
            return None
        v = next((v for v in patient.versions(key[0], key[1], key[2]) if v.number == number), None)
        if v is None:
            return None
        try:
            mask, _ = patient.store.load_mask(
                StructureRef(key[0], key[1], key[2], v.path), patient.frames[key[2]].geometry
            )
        except (OSError, ValueError) as e:
            self.win.statusBar().showMessage(f"{Path(v.path).name} cannot be shown: {e}", 15000)
            return None
        return mask

    def show_version(self, key: tuple, number: int, on: bool) -> None:
        """Show (or hide) one saved version as its own outline beside the newest."""
        scene, state = self.win.scene, self.win.state
        if scene is None or state is None:
            return
        vkey = (key[0], f"{key[1]} v{number:03d}", key[2])
        if on:
            mask = self.version_mask(key, number)
            if mask is None:
                return
            scene.set_edited_mask(vkey, mask)
            st = state.style(vkey)
            st.visible, st.width = True, 2
            st.colour = VERSION_COLOURS[len(self._shown_versions) % len(VERSION_COLOURS)]
            self._shown_versions[(key, number)] = vkey
        else:
            self._shown_versions.pop((key, number), None)
            scene.clear_edited_mask(vkey)
            state.layers.pop(vkey, None)
        self.win.tri.refresh()

    def revert(self, key: tuple, number: int) -> None:
        """Save a new version equal to version ``number`` (through the editor, so it is one undo step)."""
        ctrl = self.win.edit
        series = (key[0], key[1])
        if ctrl.session is not None and series in ctrl.dirty():
            self.win.statusBar().showMessage(f"Save or undo the changes to {key[0]} ({key[1]}) first", 10000)
            return
        mask = self.version_mask(key, number)
        if mask is None:
            return
        if ctrl.active != series:
            ctrl.start_editing(key[0], key[1], key[1])
            self.win.choose_tool(ctrl.tool_name)
        assert ctrl.session is not None, "start_editing opened the series in the session"
        ctrl.session.reset_to(series, mask)
        self.win.statusBar().showMessage(f"Reverting {key[0]} ({key[1]}) to v{number:03d}...")
        ctrl.save([series])

    # -- compare with the start ----------------------------------------------------------
    def start_key(self) -> tuple[str, str, str] | None:
        """(name, start source, frame) of the structure being edited: the mask its correction started from."""
        ctrl = self.win.edit
        if ctrl.active is None or self.win.patient is None:
            return None
        start = ctrl.parents.get(ctrl.active) or ""
        if not start or (ctrl.active[0], start) not in self.win.patient.reference_frame.structures:
            return None
        return (ctrl.active[0], start, self.win.patient.reference_frame.name)

    def set_compare(self, on: bool) -> None:
        """Show (or hide) added and removed voxels of the correction against its start."""
        self.compare_on = on
        if self.win.state is None:
            return
        base = self.start_key() if on else None
        if on and base is None:
            self.win.statusBar().showMessage("Compare: edit a structure that started from a mask first", 8000)
            self.compare_btn.blockSignals(True)
            self.compare_btn.setChecked(False)
            self.compare_btn.blockSignals(False)
            self.compare_on = False
        active = self.win.edit.active
        self.win.state.edit_map = None if base is None or active is None else (base, self.win.edit.scene_key(active))
        self.win.tri.refresh()
        self.win.edit_panel.refresh()

    def _follow_active(self) -> None:
        # the map follows the structure being edited
        if self.compare_on and self.win.state is not None:
            base, active = self.start_key(), self.win.edit.active
            want = None if base is None or active is None else (base, self.win.edit.scene_key(active))
            if self.win.state.edit_map != want:
                self.win.state.edit_map = want
                self.win.tri.refresh()

    def compare_text(self) -> str:
        """The live statistics line of the comparison, or '' when it is off."""
        base = self.start_key() if self.compare_on else None
        ctrl, patient = self.win.edit, self.win.patient
        if base is None or ctrl.session is None or ctrl.active is None or patient is None:
            return ""
        try:
            start = patient.mask_obj(base[0], base[1])
        except (KeyError, ValueError):
            return ""
        voxel_cc = float(np.prod(patient.geometry.spacing_zyx)) / 1000.0
        added, removed, dice = compare_counts(start, ctrl.session.working(ctrl.active), voxel_cc)
        d = "n/a" if dice is None else f"{dice:.4f}"
        # two short lines: the panel must not grow wider than a laptop screen allows
        return f"vs {base[1]}  +{added:.3f} cc  -{removed:.3f} cc\n(green / magenta)  Dice {d}"


def _output_root(path: Path, patient_id: str) -> Path:
    """The output folder a saved file lies in (``<root>/<patient>/...``)."""
    return next((q.parent for q in path.parents if q.name == patient_id), path.parent)


def install_saved_edits(win: MainWindow) -> SavedEdits:
    """Add the correction loop to a main window (see the module docstring); the window keeps it as ``saved_edits``."""
    return SavedEdits(win)
