"""Editing in the window: brush drags in the views, undo/redo, saving, unsaved-changes prompt, recovery."""

import json
import os
import signal
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from PySide6 import QtCore
from scipy import ndimage


@pytest.mark.slow
def test_brush_drag_in_axial_view_then_undo_redo_and_save(drag, editing, qtbot, tmp_path):
    win = editing
    key = ("CTVT_427", "step1_obsF")
    work = win.edit.session.working(key)
    start = work.to_full()
    z, y, x = win.state.cursor
    shape = win.scene.shape
    view = win.tri.views[0]
    # drag from inside the CTV out to the right by ~25 mm: adds a bar of voxels
    drag(view, [(z, y, x), (z, y, x + 6), (z, y, x + 12)], shape)
    after = work.to_full()
    added = after & ~start
    assert added.sum() > 0 and set(np.unique(np.nonzero(added)[0])) == {z}  # 2-D brush: one slice
    assert added[z, y, x + 12]
    assert win.edit.session.history.undo_depth == 1  # one drag = one step
    # the view shows the working copy's outline in the edit colour
    assert (view.image.image == np.array([0, 255, 255], np.uint8)).all(axis=-1).any()
    qtbot.waitUntil(lambda: "unsaved" in win.edit_panel.active_label.text(), timeout=2000)
    assert "added" in win.edit_panel.stats.text()
    qtbot.keyClick(win, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(work.to_full(), start)
    qtbot.keyClick(win, QtCore.Qt.Key.Key_Y, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(work.to_full(), after)
    # the input (DL mask) is untouched
    assert np.array_equal(win.patient.mask("CTVT_427", "nnUNet"), start)
    win.edit.save([key], background=False)
    win.edit.save([key], background=False)
    qtbot.waitUntil(lambda: not win.edit.dirty(), timeout=5000)
    folder = tmp_path / "edits" / win.patient.id / "MR_StorT2" / "observerData"
    v1, v2 = folder / "mask_CTVT_427_step1_obsF_v001.nii.gz", folder / "mask_CTVT_427_step1_obsF_v002.nii.gz"
    assert v1.is_file() and not v2.exists()  # the second save had no changes: nothing written
    data = np.asarray(nib.load(str(v1)).dataobj).transpose(2, 1, 0).astype(bool)
    assert np.array_equal(data, after)
    side = json.loads((folder / "mask_CTVT_427_step1_obsF_v001.json").read_text())
    assert side["stats"]["voxels_added"] == int(added.sum()) and side["started_from"] == "nnUNet"


@pytest.mark.slow
def test_brush_in_sagittal_and_coronal_views(drag, editing, qtbot):
    win = editing
    work = win.edit.session.working(("CTVT_427", "step1_obsF"))
    z, y, x = win.state.cursor
    shape = win.scene.shape
    before = work.to_full()
    drag(win.tri.views[2], [(z, y, x), (z + 6, y, x)], shape)  # sagittal: slice x
    diff = work.to_full() ^ before
    assert diff.any() and set(np.unique(np.nonzero(diff)[2])) == {x}
    before = work.to_full()
    qtbot.keyClick(win, QtCore.Qt.Key.Key_2)  # eraser
    assert win.edit.tool_name == "eraser"
    drag(win.tri.views[1], [(z, y, x - 3), (z, y, x + 3)], shape)  # coronal: slice y
    diff = work.to_full() ^ before
    assert diff.any() and set(np.unique(np.nonzero(diff)[1])) == {y}
    assert not (work.to_full() & diff).any()  # the eraser only removes


@pytest.mark.slow
def test_whole_structure_tools_each_one_undo_step(editing):
    win = editing
    key = ("CTVT_427", "step1_obsF")
    work = win.edit.session.working(key)
    vol = lambda: work.count()  # noqa: E731
    n0 = vol()
    win.edit_panel.option("margin", "margin_mm").setValue(3.0)
    win.choose_tool("margin")
    win.apply_tool()
    assert vol() > n0
    win.undo()
    assert vol() == n0
    win.edit_panel.option("margin", "margin_mm").setValue(-2.0)
    win.apply_tool()
    assert vol() < n0
    win.undo()
    assert vol() == n0

    # each tool gets a defect it must repair, so a tool that does nothing fails here
    z = win.state.cursor[0]
    box = work.bbox()
    assert box is not None and box[0][0] < z - 1 and z + 1 < box[0][1] - 1, (z, box)
    inner = np.argwhere(ndimage.binary_erosion(work.to_full()[z], iterations=3))
    assert len(inner), "the cursor's slice holds the structure"
    hy, hx = (int(v) for v in inner[len(inner) // 2])
    far = (z, 2, 2)  # a lone voxel far from the prostate
    assert not work.contains(*far)

    def apply(tool: str) -> None:
        win.choose_tool(tool)
        depth = win.edit.session.history.undo_depth
        assert win.edit.apply_tool(0, z), tool
        assert win.edit.session.history.undo_depth == depth + 1, tool

    work.write(((z, z + 1), (hy, hy + 1), (hx, hx + 1)), np.zeros((1, 1, 1), bool))
    apply("fill_holes")
    assert work.contains(z, hy, hx)
    work.write(tuple((v, v + 1) for v in far), np.ones((1, 1, 1), bool))
    apply("islands")
    assert not work.contains(*far) and work.contains(z, hy, hx)
    plane = work.to_full()[z + 1]
    work.write(((z + 1, z + 2), (0, plane.shape[0]), (0, plane.shape[1])), np.zeros((1, *plane.shape), bool))
    apply("interpolate")
    assert work.to_full()[z + 1].sum() > 0.5 * plane.sum()
    row = work.to_full()[z, hy]
    edge = int(np.flatnonzero(row).max())  # a one-voxel slit cut into the boundary: closing fills it
    work.write(((z, z + 1), (hy, hy + 1), (edge - 3, edge + 1)), np.zeros((1, 1, 4), bool))
    apply("smooth")
    assert [work.contains(z, hy, x) for x in range(edge - 3, edge)] == [True] * 3  # the notch, not the rim


@pytest.mark.slow
def test_brush_radius_keys_and_cursor(editing, qtbot):
    win = editing
    r = win.edit.brush.radius_mm
    qtbot.keyClick(win, QtCore.Qt.Key.Key_Plus)
    assert win.edit.brush.radius_mm == r + 0.5
    qtbot.keyClick(win, QtCore.Qt.Key.Key_Minus)
    assert win.edit.brush.radius_mm == r
    view = win.tri.views[0]
    win.tri.views[0].hovered.emit(0, win.state.cursor)
    rect = view.brush_cursor.rect()
    assert view.brush_cursor.isVisible() and abs(rect.width() - 2 * r) < 1e-6  # true size in mm


@pytest.mark.slow
def test_unsaved_changes_prompt(drag, editing, qtbot):
    win = editing
    z, y, x = win.state.cursor
    drag(win.tri.views[0], [(z, y, x), (z, y, x + 10)], win.scene.shape)
    asked = []
    win.ask = lambda text, info, buttons: asked.append(text) or "Cancel"
    assert not win.confirm_discard()
    assert asked and "CTVT_427" in asked[0]
    win.ask = lambda *a: "Discard"
    assert win.confirm_discard()
    win.edit.session.mark_saved(("CTVT_427", "step1_obsF"))


@pytest.mark.slow
def test_failed_save_keeps_edits_and_retry_elsewhere_works(drag, editing, qtbot, tmp_path):
    win = editing
    z, y, x = win.state.cursor
    drag(win.tri.views[0], [(z, y, x), (z, y, x + 10)], win.scene.shape)
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    failures = []
    win.edit.save_failed.disconnect()
    win.edit.save_failed.connect(lambda msg, keys: failures.append(msg))
    win.edit.save(out_dir=blocker, background=False)
    assert failures and str(blocker) in failures[0]
    assert win.edit.dirty() == [("CTVT_427", "step1_obsF")]
    win.edit.save(out_dir=tmp_path / "other", background=False)
    qtbot.waitUntil(lambda: not win.edit.dirty(), timeout=5000)
    assert list((tmp_path / "other").rglob("mask_CTVT_427_step1_obsF_v001.nii.gz"))


@pytest.mark.slow
def test_failing_autosave_is_shown_until_it_works_again(drag, editing, qtbot, tmp_path, monkeypatch):
    from lundprobe_gui.ui import edit_controller

    win = editing
    z, y, x = win.state.cursor
    drag(win.tri.views[0], [(z, y, x), (z, y, x + 10)], win.scene.shape)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    real_area = edit_controller.recovery_area
    monkeypatch.setattr(edit_controller, "recovery_area", lambda: blocker / "recovery")
    win.edit.autosave()
    assert win.autosave_warning.isVisibleTo(win)
    assert "Autosave failing" in win.autosave_warning.text()
    assert str(blocker) in win.autosave_warning.toolTip()
    assert win.edit.dirty() == [("CTVT_427", "step1_obsF")]  # the edits are still there
    monkeypatch.setattr(edit_controller, "recovery_area", real_area)
    win.edit.autosave()
    assert not win.autosave_warning.isVisibleTo(win) and win.edit.autosave_error is None
    win.edit.session.mark_saved(("CTVT_427", "step1_obsF"))


_KILLED_SESSION = r"""
import os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
import lundprobe_gui as lp
from lundprobe_gui.app import make_application
from lundprobe_gui.ui.loader import load_patient
from lundprobe_gui.ui.main_window import MainWindow
app = make_application()
win = MainWindow()
p = lp.open_patient(sys.argv[1]); win.set_patient(p); load_patient(p); win.loader.image_ready.emit(p)
win.edit.start_editing("CTVT_427", "nnUNet", "step1_obsK")
z, y, x = win.state.cursor
win.edit.set_tool("brush")
win.edit.handle("press", 0, (z, y, x))
win.edit.handle("move", 0, (z, y, x + 15))
win.edit.handle("release", 0, (z, y, x + 15))
win.edit.autosave()
print(win.edit.session.working(("CTVT_427", "step1_obsK")).count(), flush=True)
time.sleep(60)
"""


@pytest.mark.slow
def test_recovery_after_kill(demo_patient_path, window, qtbot, tmp_path):
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_SESSION, str(demo_patient_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    count = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    answers = []
    window.ask = lambda text, info, buttons: answers.append(text) or "Restore"
    window.set_patient(window.patient)
    window.loader.finished.emit(window.patient)
    assert answers and "step1_obsK" in answers[0]
    key = ("CTVT_427", "step1_obsK")
    assert window.edit.session.working(key).count() == count
    assert window.edit.dirty() == [key]
    assert window.edit.session.working(key).count() != window.patient.mask_obj("CTVT_427", "nnUNet").count()
