"""The correction loop in the window: save, reopen, see the correction with its history, continue, compare."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore

import lundprobe_gui as lp
from lundprobe_gui.render.edit_map import ADDED_COLOUR
from lundprobe_gui.ui.layer_panel import KIND_ROLE, SAVED_GROUP, VERSION_ROLE
from lundprobe_gui.ui.loader import load_patient
from lundprobe_gui.ui.saved_edits import TARGET_SETTING, own_source


def _reopen(win, path, out):
    win.loader.edits_dirs = [out, True]
    patient = lp.open_patient(path, edits=win.loader.edits_dirs)
    win.set_patient(patient)
    load_patient(patient)
    win.loader.image_ready.emit(patient)
    win.loader.finished.emit(patient)
    return patient


def _tinted(before, after, rgb):
    """Pixels that the overlay changed towards ``rgb`` (blended over the image)."""
    diff = after[..., :3].astype(int) - before[..., :3].astype(int)
    want = np.sign(np.array(rgb) - 128)
    return int(((np.sign(diff) == want) & (np.abs(diff) > 20)).all(axis=-1).sum())


def test_default_target_is_the_users_own_and_remembered(window, monkeypatch):
    ep = window.edit_panel
    assert ep.target.text() == own_source()
    assert not ep.undo_btn.isEnabled() and not ep.redo_btn.isEnabled()  # nothing to undo before editing
    assert own_source("ann smith") == "corrected_ann_smith" and own_source("v2") == "corrected_v2_edits"
    ep.target.setText("corrected_team")
    ep.target.editingFinished.emit()
    from lundprobe_gui.ui.main_window import MainWindow

    again = MainWindow()
    try:
        assert again.edit_panel.target.text() == "corrected_team"
    finally:
        again.close()
        window.settings.remove(TARGET_SETTING)  # Qt keeps one settings file per process: leave it as found


def test_save_reopen_continue_compare(window, drag, qtbot, tmp_path):
    win = window
    out = tmp_path / "edits"
    win.edit.out_dir = out
    source = own_source()
    win.edit_panel.target.setText(source)
    assert win.edit_panel.select("CTVT_427", "nnUNet")
    win.edit_panel.start_btn.click()
    win.choose_tool("brush")
    win.edit.set_brush_radius(4.0)
    key = ("CTVT_427", source)
    z, y, x = win.state.cursor
    drag(win.tri.views[0], [(z, y, x), (z, y, x + 6), (z, y, x + 12)], win.scene.shape)
    v1 = win.edit.session.working(key).to_full()
    win.edit.new_structure("CTVextra", source)  # a second working copy, never saved
    win.edit.save([key], background=False)
    qtbot.waitUntil(lambda: not win.edit.dirty(), timeout=5000)
    first = win.layers.item_of(("CTVT_427", source, "MRI"))  # moved to its group at the first save
    assert first.parent().text(0) == SAVED_GROUP and first.childCount() == 1
    assert win.layers.item_of(("CTVextra", source, "MRI")) is not None  # the unsaved one keeps its row
    win.edit.session.mark_saved(("CTVextra", source))
    # an unchanged save writes nothing and says so
    messages = []
    win.edit.unchanged.connect(messages.append)
    folder = next(out.rglob("observerData"))
    before = sorted(p.name for p in folder.iterdir())
    win.edit.save([key], background=False)
    assert messages and "no changes since v001" in messages[0]
    assert sorted(p.name for p in folder.iterdir()) == before

    # reopen: the correction is back, in its own group, with its history
    path = win.patient.path
    patient = _reopen(win, path, out)
    ref = patient.structure("CTVT_427", source)
    assert ref.version == 1 and np.array_equal(patient.mask("CTVT_427", source), v1)
    item = win.layers.item_of(ref.key)
    assert item is not None and item.parent().text(0) == SAVED_GROUP and "v001" in item.text(0)
    assert win.state.is_shown(ref.key)  # the user's correction shows on open
    assert item.childCount() == 1 and item.child(0).data(0, KIND_ROLE) == "version"
    assert item.child(0).data(0, VERSION_ROLE) == 1 and "v001" in item.child(0).text(0)
    assert win.edit_panel.chosen() == ("CTVT_427", source)  # continues from the newest version

    # continue: the working copy starts from v001, and its start stays the DL mask
    win.edit_panel.start_btn.click()
    win.choose_tool("brush")
    assert np.array_equal(win.edit.session.working(key).to_full(), v1)
    assert win.edit.parents[key] == "nnUNet"
    z, y, x = win.state.cursor
    drag(win.tri.views[0], [(z, y - 4, x - 14), (z, y - 4, x - 24)], win.scene.shape)
    v2 = win.edit.session.working(key).to_full()
    assert (v2 != v1).any()

    # compare with the start: added and removed voxels over the image, with statistics
    plain = win.tri.views[0].image.image.copy()
    qtbot.keyClick(win, QtCore.Qt.Key.Key_X)
    assert win.saved_edits.compare_on
    assert win.state.edit_map == (("CTVT_427", "nnUNet", "MRI"), ("CTVT_427", source, "MRI"))
    win.tri.refresh()
    img = win.tri.views[0].image.image
    assert _tinted(plain, img, ADDED_COLOUR) > 0  # green where voxels were added (under the outline elsewhere)
    win.edit_panel.refresh()
    dl = patient.mask("CTVT_427", "nnUNet")
    cc = float(np.prod(patient.geometry.spacing_zyx)) / 1000.0
    want = f"+{(v2 & ~dl).sum() * cc:.3f} cc"
    assert want in win.edit_panel.stats.text()
    # the statistics never widen the panel (a 1366x768 screen shows it whole)
    assert all(len(line) <= 44 for line in win.edit_panel.stats.text().splitlines())
    qtbot.keyClick(win, QtCore.Qt.Key.Key_X)
    assert win.state.edit_map is None

    # save v002; the history follows
    win.edit.save([key], background=False)
    qtbot.waitUntil(lambda: not win.edit.dirty(), timeout=5000)
    qtbot.waitUntil(lambda: win.layers.item_of(ref.key).childCount() == 2, timeout=5000)
    assert [v.number for v in patient.versions("CTVT_427", source)] == [1, 2]

    # revert to v001: a new version v003 equal to v001
    win.layers.revert_requested.emit(ref.key, 1)
    qtbot.waitUntil(lambda: len(patient.versions("CTVT_427", source)) == 3, timeout=5000)
    assert np.array_equal(lp.open_patient(path, edits=out).mask("CTVT_427", source), v1)
    # showing an older version draws it beside the newest
    win.layers.version_toggled.emit(ref.key, 2, True)
    assert ("CTVT_427", f"{source} v002", "MRI") in win.state.layers
