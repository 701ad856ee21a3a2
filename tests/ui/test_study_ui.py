"""The reader-study screens (issue 5): an observer's session driven through the main window.

Three small demo patients, a study with two observers (obsB shares its ID with a published
observer, so the dataset's own ``step1_obsB`` files must stay hidden), the prompts replaced by
the test. Set ``LUNDPROBE_STUDY_SHOTS=<folder>`` to also save window screenshots of both steps.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

import lundprobe_gui as lp
from lundprobe_gui.demo import DemoOptions, generate
from lundprobe_gui.render.scene import SceneRenderer
from lundprobe_gui.study import (
    ACTIVE,
    COMPLETE,
    WAITING,
    InitOptions,
    ObserverSession,
    export_study,
    init_study,
    load_study,
    recompute_active_time,
)
from lundprobe_gui.ui.layer_panel import KEY_ROLE, KIND_ROLE

PIN = "2468"
STRUCTURES = ("CTVT_427", "Rectum")


# -- fixtures and helpers ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def study_dataset(tmp_path_factory) -> Path:
    """Three small extended-part patients (seed 5); the tests must not modify it."""
    root = tmp_path_factory.mktemp("study-ui-ds") / "ds"
    generate(root, DemoOptions(patients=3, size="small", seed=5))
    return root


@pytest.fixture()
def study(study_dataset, tmp_path) -> Path:
    d = tmp_path / "study"
    init_study(
        d,
        InitOptions(
            dataset_root=study_dataset, observers=["obsB", "obsC"], seed=11, admin_pin=PIN, allow_published_ids=True
        ),
    )
    return d


def _settle(mode) -> None:
    """Let the session's background writer finish and its reports reach the window (saves never block it)."""
    assert mode.wait_saved(60)
    for _ in range(3):
        QtWidgets.QApplication.processEvents()


def _layer_keys(win) -> list[tuple]:
    keys = []
    it = QtWidgets.QTreeWidgetItemIterator(win.layers)
    while it.value():
        if it.value().data(0, KIND_ROLE) == "structure":
            keys.append(tuple(it.value().data(0, KEY_ROLE)))
        it += 1
    return keys


def _overlay_kinds(win) -> list[str]:
    kinds = []
    it = QtWidgets.QTreeWidgetItemIterator(win.layers)
    while it.value():
        k = it.value().data(0, KIND_ROLE)
        if isinstance(k, str):
            kinds.append(k)
        it += 1
    return kinds


def _combo_items(combo) -> list[tuple]:
    return [tuple(combo.itemData(i)) for i in range(combo.count())]


def _shown_texts(win) -> list[str]:
    """Every text the window shows or offers: title, labels, buttons, lists, trees, tables, combos, menus."""
    out = [win.windowTitle(), win.statusBar().currentMessage()]
    out += [w.text() for w in win.findChildren(QtWidgets.QLabel)]
    out += [w.text() for w in win.findChildren(QtWidgets.QAbstractButton)]
    out += [w.text() for w in win.findChildren(QtWidgets.QLineEdit)]
    out += [w.format() for w in win.findChildren(QtWidgets.QProgressBar)]
    for lw in win.findChildren(QtWidgets.QListWidget):
        out += [lw.item(i).text() for i in range(lw.count())]
    for tw in win.findChildren(QtWidgets.QTableWidget):
        out += [
            tw.item(r, c).text()
            for r in range(tw.rowCount())
            for c in range(tw.columnCount())
            if tw.item(r, c) is not None
        ]
    for cb in win.findChildren(QtWidgets.QComboBox):
        out += [cb.itemText(i) for i in range(cb.count())]
    it = QtWidgets.QTreeWidgetItemIterator(win.layers)
    while it.value():
        out += [it.value().text(0), it.value().toolTip(0)]
        it += 1

    def menu_texts(menu):
        for a in menu.actions():
            out.append(a.text())
            if a.menu() is not None:
                menu_texts(a.menu())

    for a in win.menuBar().actions():
        if a.menu() is not None:
            menu_texts(a.menu())
    return [t for t in out if t]


def _assert_no_leak(win, patient) -> None:
    for text in _shown_texts(win):
        assert patient.id not in text, f"patient ID shown: {text!r}"
        assert str(patient.path) not in text and str(patient.dataset_root) not in text, f"path shown: {text!r}"


def _assert_blinded(win, mode, step: int) -> None:
    s, p = mode.session, win.patient
    frame = p.reference_frame
    me, other = s.observer, "obsC" if s.observer == "obsB" else "obsB"
    own = f"step{step}_{me}"
    other_step = f"step1_{me}" if step == 2 else f"step2_{me}"
    hidden = {"clinical", "nnUNet_fold_0", "nnUNet_fold_9", f"step1_{other}", f"step2_{other}", "step1_obsD"}
    assert hidden <= win.state.hidden_sources
    # the observer's other step (published files of the same name included) is out of the model or hidden
    assert other_step not in p.sources() or other_step in win.state.hidden_sources
    hidden.add(other_step)
    # the layer panel lists only the start masks and the observer's own work of this step
    assert {k[1] for k in _layer_keys(win)} <= {"nnUNet", own}
    assert {("CTVT_427", "nnUNet"), ("Rectum", "nnUNet")} <= {(k[0], k[1]) for k in _layer_keys(win)}
    # the edit panel offers only the start masks of the study's structures
    assert _combo_items(win.edit_panel.source_combo) == [("CTVT_427", "nnUNet"), ("Rectum", "nnUNet")]
    assert not win.edit_panel.select("CTVT_427", "clinical")
    assert not win.edit_panel.select("CTVT_427", "nnUNet_fold_0")
    assert win.edit_panel.target.text() == own and win.edit_panel.target.isReadOnly()
    # the session refuses them, and none of their voxels was even loaded
    for source in hidden:
        assert not s.can_open(source)
    for (name, source), ref in frame.structures.items():
        if source in win.state.hidden_sources:
            assert not p.is_mask_loaded(ref), (name, source)
    # the published edits under the observer's own name are not in the model at all
    assert all(not (src == own and "output" not in Path(ref.path).parts) for (_n, src), ref in frame.structures.items())
    assert s.target_source == own
    # the patient browser, recent patients and File > Open are out of reach
    assert win.browser.rowCount() == 0 and not win.browser.isVisible()
    assert not win.actions["open_patient"].isEnabled() and not win.actions["open_dataset"].isEnabled()
    assert not win.recent_menu.menuAction().isVisible()
    assert win.state.uncertainty_allowed == (step == 2)
    unc_rows = [k for k in _overlay_kinds(win) if k.startswith("unc:")]
    if step == 1:
        assert unc_rows == [] and not win.tri.unc_bar.isVisible() and not win.display.unc_box.isEnabled()
        assert frame.uncertainty and not any(v.loaded for v in frame.uncertainty.values())  # never even read
    else:
        assert sorted(unc_rows) == ["unc:CTVT_427", "unc:Rectum"] and win.tri.unc_bar.isVisible()
        assert win.state.uncertainty.scale == "fixed" and not win.display.scale.isEnabled()
    # the dose is hidden in both steps: not loaded, not listed, no colour bar, no readout, no controls
    assert not win.state.dose_allowed and not win.state.dose.wash and not win.state.dose.lines
    assert frame.doses and not any(v.loaded for v in frame.doses.values())  # never even read
    assert not {"dose_wash", "isodose"} & set(_overlay_kinds(win))
    assert not win.tri.dose_bar.isVisible() and not win.display.dose_box.isVisibleTo(win.display)
    assert win.scene.dose() is None and win.scene.readout().dose_gy is None


def _renders(win):
    """The window's axial view, and the same slice rendered without and with the uncertainty map, and with the dose.

    Rendered from a fresh model of the patient, so that the window's own model never loads what it hides.
    """
    p = lp.open_patient(win.patient.path)
    p.load_all()
    off = copy.deepcopy(win.state)
    off.uncertainty_allowed = False
    on = copy.deepcopy(win.state)
    on.uncertainty_allowed, on.uncertainty.visible = True, True
    on.uncertainty.maps, on.uncertainty.scale = set(p.reference_frame.uncertainty), "fixed"
    dose = copy.deepcopy(on)
    dose.dose_allowed, dose.dose.wash, dose.dose.lines = True, True, True
    shown = np.array(win.tri.views[0].image.image)
    renders = []
    for state in (off, on, dose):
        scene = SceneRenderer(p, state)
        scene.set_line_scale(0, win.scene.line_scale(0))  # lines as thick as the window draws them
        renders.append(scene.render(0).rgb)
    return shown, *renders


def _shot(win, name: str) -> None:
    folder = os.environ.get("LUNDPROBE_STUDY_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for _ in range(5):  # let the docks lay out before grabbing
            QtWidgets.QApplication.processEvents()
        win.grab().save(str(Path(folder) / name), "PNG")


# -- the end-to-end test of the issue -----------------------------------------------------------------
@pytest.mark.slow
def test_observer_session_step1_and_step2_through_the_window(
    study_window, drag, study, study_dataset, qtbot, fake_clock
):
    win, mode = study_window(PIN)
    mode.choose_study_dir = lambda: study
    mode.ask_observer = lambda _study: "obsB"
    recent_before = win.recent()
    assert mode.start_dialog()
    s = mode.session
    assert mode.active and mode.dock.isVisible() and s.observer == "obsB"
    assert [
        d.objectName()
        for d in win.findChildren(QtWidgets.QDockWidget)
        if d.objectName() == "Patients" and d.isVisible()
    ] == []
    order1, edited = [], {}
    for k in (1, 2, 3):
        view = s.current_case()
        assert (view.step, view.position, view.total) == (1, k, 3)
        p = win.patient
        order1.append(p.id)
        assert win.windowTitle() == f"lundprobe_gui - Study - {view.pseudonym} (step 1)"
        assert mode.panel.case_label.text() == view.pseudonym and view.pseudonym.startswith("Case ")
        assert mode.panel.progress.format() == f"Case {k} of 3"
        assert mode.panel.structure_label.text() == "Structure: CTVT_427"
        _assert_blinded(win, mode, step=1)
        _assert_no_leak(win, p)
        if k == 1:
            # hidden layers cannot be opened from anywhere
            with pytest.raises(ValueError, match=r"CTVT_427 \(clinical\) cannot be edited in this study"):
                win.edit.start_editing("CTVT_427", "clinical", "step1_obsB")
            with pytest.raises(ValueError, match=r"CTVT_427 \(nnUNet_fold_0\) cannot be edited in this study"):
                win.edit.start_editing("CTVT_427", "nnUNet_fold_0", "step1_obsB")
            published = study_dataset / p.id / "MR_StorT2" / "observerData" / "mask_CTVT_427_step1_obsB.nii.gz"
            assert published.is_file() and not s.can_open("step1_obsB", published)
            win.open_path(study_dataset / order1[0])  # refused quietly: the window keeps the case
            assert win.patient is p
        # ratings come first
        assert not mode.panel.edit_btn.isEnabled() and not mode.panel.finish_btn.isEnabled()
        assert mode.edit_structure() is None and win.edit.active is None
        assert mode.messages.pop()[0] == "Rate first"
        with pytest.raises(ValueError, match="rate CTVT_427 first"):
            win.edit.start_editing("CTVT_427", "nnUNet", "step1_obsB")
        mode.rate("quality", 3)
        assert not mode.panel.edit_btn.isEnabled()
        assert mode.panel.likert["quality"].checkedId() == 3
        fake_clock.advance(2.0)  # the only time that passes on a structure: its active time
        mode.rate("confidence", 4)
        assert mode.panel.edit_btn.isEnabled() and s.missing_ratings("CTVT_427") == []
        if k == 1:
            shown, off, on, dose = _renders(win)
            assert np.array_equal(shown, off)  # what the window shows has no uncertainty colours...
            assert (off != on).any(axis=-1).sum() > 50  # ...where a normal render has them
            assert (off != dose).any(axis=-1).sum() > 500  # ...and no dose, which covers much more
            _shot(win, "study_step1.png")
        mode.panel.edit_btn.click()
        key = ("CTVT_427", "step1_obsB")
        assert win.edit.active == key and win.edit.tool_name == "brush"
        assert all(v.mode == "edit" for v in win.tri.views.values())
        assert mode.panel.edit_btn.text() == "Editing CTVT_427" and not mode.panel.likert_boxes["quality"].isEnabled()
        work = win.edit.session.working(key)
        start = work.to_full()
        assert np.array_equal(start, p.mask("CTVT_427", "nnUNet"))
        win.edit.set_brush_radius(3.0)
        z, y, x = win.state.cursor
        drag(win.tri.views[0], [(z, y, x), (z, y, x + 8), (z, y, x + 14)], win.scene.shape)
        after = work.to_full()
        assert (after & ~start).sum() > 0
        edited[p.id] = after
        if k == 1:
            _shot(win, "study_step1_editing.png")
        mode.rate("comment", f"apex case {k}")
        # the Rectum: accepted unchanged
        mode.panel.next_btn.click()
        assert s.current_case().active_structure == "Rectum" and win.edit.active is None
        assert not win.edit.dirty()  # the CTV edit was handed to the study when leaving it
        _settle(mode)  # ... which writes it in the background
        own_key = ("CTVT_427", "step1_obsB", p.reference_frame.name)
        assert own_key in _layer_keys(win) and np.array_equal(win.scene.mask_for(own_key).to_full(), after)
        assert win.edit.undo() is None  # nothing left to undo once the structure is left
        assert not mode.panel.edit_btn.isEnabled() and not mode.panel.finish_btn.isEnabled()
        mode.rate("quality", 4)
        fake_clock.advance(2.0)
        mode.rate("confidence", 5)
        assert mode.panel.finish_btn.isEnabled()
        mode.panel.finish_btn.click()
        assert not mode.messages or mode.messages[-1][0] in ("Step finished",), mode.messages
    # step 1 finished: the washout holds step 2 back
    assert s.status() == WAITING
    assert mode.messages[-1][0] == "Step finished" and "Step 2 opens on" in mode.messages[-1][1]
    assert mode.panel.stack.currentIndex() == 1 and not mode.views_shown()
    _shot(win, "study_waiting.png")
    assert win.windowTitle() == "lundprobe_gui - Study"
    assert mode.panel.admin_box.isVisible() and mode.panel.override_btn.isEnabled()
    mode.panel.override_btn.click()  # admin PIN and reason answered by the test
    assert s.status() == ACTIVE and mode.views_shown()
    order2 = []
    for k in (1, 2, 3):
        view = s.current_case()
        assert (view.step, view.position) == (2, k)
        p = win.patient
        order2.append(p.id)
        assert win.windowTitle() == f"lundprobe_gui - Study - {view.pseudonym} (step 2)"
        _assert_blinded(win, mode, step=2)
        _assert_no_leak(win, p)
        if k == 1:
            shown, off, on, dose = _renders(win)
            assert np.array_equal(shown, on) and (on != off).any(axis=-1).sum() > 50  # the uncertainty shows...
            assert (shown != dose).any(axis=-1).sum() > 500  # ...without any dose wash over it
            assert "shown" in mode.panel.uncertainty_label.text()
        for name in STRUCTURES:
            if s.current_case().active_structure != name:
                mode.select_structure(name)
            mode.rate("quality", 2)
            fake_clock.advance(2.0)
            mode.rate("confidence", 3)
        if k == 1:
            _shot(win, "study_step2.png")
        mode.panel.finish_btn.click()
    assert order2 != order1 and sorted(order2) == sorted(order1)
    assert s.status() == COMPLETE and mode.messages[-1][0] == "Study finished"
    mode.end()
    assert not mode.active and not (study / "sessions" / "obsB.lock").exists()
    assert win.actions["open_patient"].isEnabled() and win.windowTitle() == "lundprobe_gui"
    assert win.recent() == recent_before  # the study's patients were never remembered
    assert win.override is None and win.edit.override is None
    win.show_dataset(study_dataset)  # the window's own behaviour is back: the browser lists patients
    assert win.browser.rowCount() >= len(order1)

    # outputs: the edited and the accepted masks on the MRI grid
    for pid in order1:
        mri = nib.load(str(study_dataset / pid / "MR_StorT2" / "image.nii.gz"))
        folder = study / "output" / pid / "MR_StorT2" / "observerData"
        for name in STRUCTURES:
            for step in (1, 2):
                f = folder / f"mask_{name}_step{step}_obsB.nii.gz"
                assert f.is_file(), f
                img = nib.load(str(f))
                assert img.shape == mri.shape and np.allclose(img.affine, mri.affine)
                data = np.asarray(img.dataobj)
                assert data.dtype == np.uint8 and set(np.unique(data)) <= {0, 1}
        got = np.asarray(nib.load(str(folder / "mask_CTVT_427_step1_obsB.nii.gz")).dataobj).transpose(2, 1, 0)
        assert np.array_equal(got.astype(bool), edited[pid])
    export_study(study)
    with open(study / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    mine = [r for r in rows if r["observer"] == "obsB"]
    assert len(mine) == 12
    for r in mine:
        assert r["quality"] and r["confidence"] and r["finished_at"], r
        assert r["pseudonym"].startswith("Case ") and r["start_mask"] == "nnUNet"
    ctv1 = [r for r in mine if r["step"] == "1" and r["structure"] == "CTVT_427"]
    assert len(ctv1) == 3 and all(int(r["voxels_added"]) > 0 and r["comment"].startswith("apex case") for r in ctv1)
    rectum = [r for r in mine if r["structure"] == "Rectum"]
    assert len(rectum) == 6 and all(r["voxels_added"] == "0" and r["voxels_removed"] == "0" for r in rectum)
    theirs = [r for r in rows if r["observer"] == "obsC"]
    assert len(theirs) == 12 and all(not r["quality"] for r in theirs)

    # the second observer, through both steps in the same window
    assert mode.start(study, "obsC")
    s = mode.session
    for step in (1, 2):
        if step == 2:
            assert s.status() == WAITING
            mode.panel.override_btn.click()
        for k in (1, 2, 3):
            view = s.current_case()
            assert (view.step, view.position) == (step, k) and view.pseudonym in win.windowTitle()
            _assert_blinded(win, mode, step=step)
            _assert_no_leak(win, win.patient)
            for name in STRUCTURES:
                if s.current_case().active_structure != name:
                    mode.select_structure(name)
                mode.rate("quality", 1 + (k + step) % 4)
                fake_clock.advance(2.0)
                mode.rate("confidence", 5)
            if k != 2:  # one case accepted as it is
                mode.edit_structure("Rectum")
                z, y, x = win.state.cursor
                win.edit.set_brush_radius(2.0 + step)
                drag(win.tri.views[0], [(z, y, x - 6), (z, y, x - 2)], win.scene.shape)
                win.undo()
                win.redo()
            win.tri.step_slice(0, 1)
            mode.panel.finish_btn.click()
    assert s.status() == COMPLETE
    mode.end()
    rep = export_study(study)
    assert not rep.problems and len(rep.copied) == 24  # 2 observers x 2 steps x 3 cases x 2 structures
    with open(study / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert all(r["finished_at"] and r["quality"] for r in rows)
    assert [float(r["active_seconds"]) for r in rows] == [2.0] * 24  # the time the clock moved on each structure
    assert {r["observer"] for r in rows} == {"obsB", "obsC"}
    assert all(r["uncertainty_available"] == "1" and r["unlocks"] == "0" for r in rows)
    for r in rows:  # the map is on screen only in step 2
        assert float(r["uncertainty_visible_seconds"]) == (2.0 if r["step"] == "2" else 0.0), r
    # the interaction logs: what the observers did, from which the stored times are recomputed exactly
    log = [json.loads(x) for x in (study / "sessions" / "obsC.events.jsonl").read_text().splitlines()]
    kinds = {e["kind"] for e in log}
    assert {"open", "rate", "tool", "stroke", "undo", "redo", "slice", "finish", "case_shown", "close"} <= kinds
    strokes = [e for e in log if e["kind"] == "stroke"]
    assert strokes and all(e["tool"] == "brush" and e["voxels_added"] > 0 and len(e["box"]) == 3 for e in strokes)
    assert {e["radius_mm"] for e in strokes} == {3.0, 4.0}
    assert all("mean_uncertainty" in e for e in strokes if e["step"] == 2)  # the map is loaded only in step 2
    assert not any("mean_uncertainty" in e for e in strokes if e["step"] == 1)
    shown = [e for e in log if e["kind"] == "case_shown"]
    assert [e.get("uncertainty_colours") for e in shown] == [None] * 3 + ["rainbow"] * 3
    assert not any(e["dose_shown"] for e in shown)
    stored = {(r["observer"], r["step"], r["patient"], r["structure"]): float(r["active_seconds"]) for r in rows}
    recomputed = {
        (r.observer, str(r.step), r.patient, r.structure): round(r.active_seconds, 1)
        for r in recompute_active_time(study)
    }
    assert recomputed == stored  # every row, recomputed from the logs alone


# -- resuming -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_quitting_mid_case_resumes_at_the_same_case_structure_and_ratings(study_window, drag, study, qtbot):
    win1, mode1 = study_window(PIN)
    assert mode1.start(study, "obsC")
    s1 = mode1.session
    pseudonym = s1.current_case().pseudonym
    mode1.rate("quality", 1)
    mode1.rate("confidence", 2)
    mode1.panel.texts["comment"].setPlainText("left lobe")  # still being typed when the window closes
    mode1.panel.edit_btn.click()
    key = ("CTVT_427", "step1_obsC")
    z, y, x = win1.state.cursor
    drag(win1.tri.views[0], [(z, y, x), (z, y, x + 12)], win1.scene.shape)
    edited = win1.edit.session.working(key).to_full()
    assert win1.edit.dirty() == [key]
    win1.close()  # asks nothing (win.ask fails the test), saves the edit, closes the session
    assert not mode1.active and not (study / "sessions" / "obsC.lock").exists()

    win2, mode2 = study_window(PIN)
    assert mode2.start(study, "obsC")
    s2 = mode2.session
    view = s2.current_case()
    assert view.pseudonym == pseudonym and view.active_structure == "CTVT_427" and view.position == 1
    panel = mode2.panel
    assert panel.likert["quality"].checkedId() == 1 and panel.likert["confidence"].checkedId() == 2
    assert panel.texts["comment"].toPlainText() == "left lobe"
    assert not panel.likert_boxes["quality"].isEnabled()  # fixed once editing began
    assert panel.edit_btn.isEnabled() and panel.edit_btn.text() == "Continue editing CTVT_427"
    panel.edit_btn.click()
    work = win2.edit.session.working(key)
    assert np.array_equal(work.to_full(), edited) and not win2.edit.dirty()
    assert win2.edit.session.stats(key).added_voxels == int((edited & ~win2.patient.mask("CTVT_427", "nnUNet")).sum())
    # the Rectum is next: leave it half rated and quit again
    panel.next_btn.click()
    mode2.rate("quality", 3)
    mode2.end()
    _win3, mode3 = study_window(PIN)
    assert mode3.start(study, "obsC")
    view = mode3.session.current_case()
    assert (view.pseudonym, view.active_structure) == (pseudonym, "Rectum")
    assert mode3.panel.likert["quality"].checkedId() == 3 and mode3.panel.likert["confidence"].checkedId() == -1
    assert not mode3.panel.edit_btn.isEnabled()


_KILLED = r"""
import os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from lundprobe_gui.app import make_application
from lundprobe_gui.ui.main_window import MainWindow
app = make_application()
win = MainWindow()
mode = win.study_mode
mode.background = False
mode.inform = lambda *a, **k: print("INFORM", a, flush=True)
assert mode.start(sys.argv[1], "obsB")
mode.rate("quality", 2); mode.rate("confidence", 5); mode.rate("comment", "killed")
key = mode.edit_structure()
z, y, x = win.state.cursor
for kind, dx in (("press", 0), ("move", 10), ("release", 10)):
    win.edit.handle(kind, 0, (z, y, x + dx))
win.edit.autosave()  # the controller's autosave path (debounce, 60 s timer, focus loss) goes to the study
assert mode.wait_saved(60)  # ... and is written in the background: acknowledged once written
print(win.edit.session.working(key).count(), mode.session.current_case().pseudonym, flush=True)
time.sleep(120)
"""


@pytest.mark.slow
def test_a_killed_session_loses_nothing(study_window, study, qtbot):
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED, str(study)], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        line = proc.stdout.readline().split()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    count, pseudonym = int(line[0]), " ".join(line[1:])
    assert (study / "sessions" / "obsB.lock").exists()  # left behind by the killed process
    win, mode = study_window(PIN)
    assert mode.start(study, "obsB")  # the stale lock is taken over
    view = mode.session.current_case()
    assert (view.pseudonym, view.active_structure) == (pseudonym, "CTVT_427")
    assert mode.panel.likert["quality"].checkedId() == 2 and mode.panel.texts["comment"].toPlainText() == "killed"
    key = mode.edit_structure()
    assert win.edit.session.working(key).count() == count
    assert count != win.patient.mask_obj("CTVT_427", "nnUNet").count()


# -- starting: prompts and refusals -------------------------------------------------------------------
@pytest.mark.slow
def test_start_prompts_and_clear_refusals(study_window, study, qtbot, tmp_path):
    win, mode = study_window(PIN)
    mode.choose_study_dir = lambda: study
    answers = iter(["../evil", "obs B", "obsZ", None])
    mode.ask_observer = lambda _study: next(answers)
    assert not mode.start_dialog()  # two invalid IDs and an unknown observer re-asked, then cancelled
    titles = [t for t, _ in mode.messages]
    assert titles == ["Observer ID", "Observer ID", "Observer ID"]
    assert "not an observer of this study" in mode.messages[-1][1]
    assert not any(o in text for _t, text in mode.messages for o in ("obsB", "obsC"))  # no valid ID is listed
    assert not mode.active
    # a second session of the same observer
    other = ObserverSession(study, "obsB")
    try:
        assert not mode.start(study, "obsB")
        assert mode.messages[-1][0] == "Session already open" and "obsB" in mode.messages[-1][1]
    finally:
        other.close()
    # a damaged study.json
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "study.json").write_text("{not json")
    mode.choose_study_dir = lambda: broken
    assert not mode.start_dialog()
    assert mode.messages[-1][0] == "Cannot open the study" and "not valid JSON" in mode.messages[-1][1]
    assert not mode.active and win.actions["open_patient"].isEnabled()
    # a step waiting for its washout: said at the start, and only the admin can open it
    with ObserverSession(study, "obsC") as s:
        while s.current_case() is not None and s.current_case().step == 1:
            for name in s.structures:
                s.rate("quality", 3, structure=name)
                s.rate("confidence", 3, structure=name)
            s.finish_case()
        assert s.status() == WAITING
    assert mode.start(study, "obsC")
    assert mode.messages[-1][0] == "Waiting for the washout" and "Step 2 opens on" in mode.messages[-1][1]
    assert mode.panel.stack.currentIndex() == 1 and "Step 2 opens on" in mode.panel.message.text()
    assert not mode.views_shown()
    mode.ask_pin = lambda text: "wrong"
    assert not mode.admin_override_washout()
    assert mode.messages[-1][0] == "Administrator" and mode.session.status() == WAITING
    mode.ask_pin = lambda text: PIN
    assert mode.admin_override_washout()
    assert mode.session.current_case().step == 2 and mode.views_shown()
    # the admin can reopen a finished case of step 1; it becomes the current case
    mode.choose_case = lambda title, items: items[1]
    assert mode.admin_unlock()
    view = mode.session.current_case()
    assert (view.step, view.position) == (1, 2) and view.pseudonym in win.windowTitle()
    mode.end()
    assert win.windowTitle() == "lundprobe_gui" and not mode.dock.isVisible()


@pytest.mark.slow
def test_input_and_window_state_feed_the_active_time(study_window, study, qtbot, fake_clock):
    win, mode = study_window(PIN)
    assert mode.start(study, "obsB")
    s = mode.session
    calls = []
    for name in ("activity", "window_minimised", "window_restored"):
        real = getattr(s, name)
        setattr(s, name, lambda *a, _n=name, _r=real, **k: (calls.append(_n), _r(*a, **k))[1])
    port = win.tri.views[0].graphics.viewport()
    for i in range(5):
        qtbot.mouseMove(port, QtCore.QPoint(50 + 10 * i, 60))
    qtbot.keyClick(win, QtCore.Qt.Key.Key_Up)
    assert calls == ["activity"]  # throttled: at most once a second
    fake_clock.advance(1.0)
    qtbot.mouseMove(port, QtCore.QPoint(110, 60))
    assert calls == ["activity", "activity"]
    assert s.active_seconds() == 1.0
    fake_clock.advance(2.0)
    assert s.active_seconds(now=fake_clock.now) == 3.0  # the live clock runs between inputs
    win.setWindowState(QtCore.Qt.WindowState.WindowMinimized)
    qtbot.waitUntil(lambda: "window_minimised" in calls, timeout=2000)
    assert s.active_seconds() == 3.0
    fake_clock.advance(30.0)
    assert s.active_seconds(now=fake_clock.now) == 3.0  # minimised: stopped at once
    win.setWindowState(QtCore.Qt.WindowState.WindowNoState)
    qtbot.waitUntil(lambda: "window_restored" in calls, timeout=2000)
    fake_clock.advance(5.0)
    assert s.active_seconds(now=fake_clock.now) == 8.0  # restored: it runs again
    mode.on_clock()
    # the live clock is a cue: hidden unless the study shows it
    assert not mode.panel.time_label.isVisibleTo(mode.panel) and mode.panel.time_label.text() == ""
    mode.end()
    shown = study.parent / "shown-clock"
    init_study(
        shown,
        InitOptions(
            dataset_root=load_study(study).dataset_path(study),
            observers=["obsB"],
            seed=1,
            show_clock=True,
            allow_published_ids=True,
        ),
    )
    assert mode.start(shown, "obsB")
    s = mode.session
    qtbot.wait(10)  # window state changes still queued arrive first (a restore counts as the last input)
    fake_clock.advance(1.0)
    qtbot.mouseMove(win.tri.views[0].graphics.viewport(), QtCore.QPoint(60, 70))  # an input starts the case
    assert s.current_case().status == "in_progress"
    fake_clock.advance(42.0)
    mode.on_clock()
    name = s.current_case().active_structure
    assert mode.panel.time_label.isVisibleTo(mode.panel)
    assert mode.panel.time_label.text() == f"Active time 0:42 on {name}, 0:42 on this case"


@pytest.mark.slow
def test_other_docks_and_menus_are_out_of_reach_during_a_study(study_window, study, qtbot):
    win, mode = study_window(PIN)
    extra = QtWidgets.QDockWidget("Metrics", win)
    extra.setObjectName("Metrics")
    win.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, extra)
    extra.show()
    tools = win.menuBar().addMenu("&Analysis")
    act = tools.addAction("Compare with clinical")
    assert mode.start(study, "obsB")
    assert not extra.isVisible() and not extra.toggleViewAction().isEnabled()
    assert not act.isEnabled()
    with pytest.raises(ValueError, match=r"new structures cannot be drawn in a study session"):
        win.edit.new_structure("Bladder", "step1_obsB")
    mode.end()
    assert extra.isVisible() and extra.toggleViewAction().isEnabled() and act.isEnabled()
    assert win.edit.start_editing.__func__ is type(win.edit).start_editing  # the controller is itself again


@pytest.mark.slow
def test_cases_load_in_the_background_without_the_hidden_layers(study_window, study, qtbot):
    win, mode = study_window(PIN)
    mode.background = True
    assert mode.start(study, "obsB")
    mode.wait_loaded(30)  # the patient is opened on a worker thread, then its layers load
    qtbot.waitUntil(lambda: win.patient is not None and not win.progress.isVisible(), timeout=10000)
    p = win.patient
    frame = p.reference_frame
    assert frame.images["image"].loaded and all(p.is_mask_loaded(frame.structures[(n, "nnUNet")]) for n in STRUCTURES)
    hidden = [r for r in frame.structures.values() if r.source != "nnUNet"]
    assert hidden and not any(p.is_mask_loaded(r) for r in hidden)
    assert frame.uncertainty and not any(v.loaded for v in frame.uncertainty.values())
    assert win.statusBar().currentMessage() == f"{mode.session.current_case().pseudonym}: ready"
    assert win.tri.views[0].image.image is not None


@pytest.mark.slow
def test_a_failing_study_autosave_stays_on_screen_without_naming_the_patient(study_window, drag, study, qtbot):
    from lundprobe_gui.study import StudyError

    win, mode = study_window(PIN)
    assert mode.start(study, "obsB")
    mode.rate("quality", 3)
    mode.rate("confidence", 4)
    key = mode.edit_structure()
    z, y, x = win.state.cursor
    drag(win.tri.views[0], [(z, y, x), (z, y, x + 10)], win.scene.shape)
    pid = win.patient.id

    def full_disk(**_k):
        raise StudyError(f"No space left on device: cannot write {pid}/mask_CTVT_427_step1_obsB_v001.nii.gz")

    mode.save_dirty = full_disk  # an instance attribute over the method, deleted below
    win.edit.autosave()
    assert win.autosave_warning.isVisibleTo(win)
    assert "No space left" in win.autosave_warning.toolTip() and pid not in win.autosave_warning.toolTip()
    assert win.edit.dirty() == [key]  # still in memory
    del mode.save_dirty
    win.edit.autosave()
    assert not win.autosave_warning.isVisibleTo(win) and not win.edit.dirty()
    mode.end()


def _reseal(study: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "lundprobe_gui", "study", "reseal", str(study), "--admin", "--pin", PIN],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr


def test_the_steps_tools_follow_the_blinding_and_the_tools_list(study_window, study, qtbot):
    # a study whose steps allow only the manual tools (re-sealed by the administrator before anyone started)
    d = json.loads((study / "study.json").read_text())
    for step in d["steps"]:
        step["tools"] = ["brush", "eraser", "polygon"]
    (study / "study.json").write_text(json.dumps(d, indent=2))
    _reseal(study)
    win, mode = study_window(PIN)
    assert mode.start(study, "obsB")
    ctrl = win.edit
    assert "not among the tools" in ctrl.why_not("fold_vote") and "not among the tools" in ctrl.why_not("grow")
    assert ctrl.why_not("brush") is None
    assert not ctrl.set_tool("grow") and ctrl.tool_name in ("brush", "eraser", "polygon")
    mode.end()
    assert win.edit.tool_set.allowed is None  # every tool again after the study
    # without a tools list, the step's blinding alone decides: the folds are hidden, so no fold vote
    d["steps"][0]["tools"] = None
    (study / "study.json").write_text(json.dumps(d, indent=2))
    _reseal(study)
    assert mode.start(study, "obsB")
    assert "folds" in ctrl.why_not("fold_vote") and "uncertainty" in ctrl.tool_set.why_not("hotspots")
    mode.end()


@pytest.mark.slow
def test_ending_a_study_restores_the_layout_and_the_patient_shown_before(study_window, study, study_dataset, qtbot):
    win, mode = study_window(PIN)
    first = sorted(p for p in study_dataset.iterdir() if p.is_dir())[0]
    with qtbot.waitSignal(win.loader.finished, timeout=60000):
        win.open_path(first)
    qtbot.wait(50)

    def layout():
        docks = {  # the docks on screen (a tab behind another one has no region there)
            d.objectName(): (d.width(), d.height())
            for d in win.findChildren(QtWidgets.QDockWidget)
            if d.isVisible() and not d.visibleRegion().isEmpty()
        }
        return docks, (win.tri.width(), win.tri.height())

    before = layout()
    assert "Display" in before[0]  # the display's tab is in front on start
    assert mode.start(study, "obsB")
    assert layout() != before  # the study panel takes the left side
    mode.end()
    qtbot.waitUntil(lambda: mode.views_shown() and win.patient is not None and win.patient.path == first, timeout=60000)
    qtbot.waitUntil(lambda: win.scene is not None and win.tri.views[0].image.image is not None, timeout=60000)
    qtbot.wait(50)
    docks, central = layout()
    assert docks.keys() == before[0].keys()
    for name, (w, h) in docks.items():
        bw, bh = before[0][name]
        assert abs(w - bw) <= 2 and abs(h - bh) <= 2, (name, (w, h), (bw, bh))
    assert abs(central[0] - before[1][0]) <= 2 and abs(central[1] - before[1][1]) <= 2
    assert win.windowTitle().startswith(f"lundprobe_gui - {win.patient.id}")


def test_the_observers_own_edits_of_each_structure_have_their_own_colour(study_window, study, qtbot):
    win, mode = study_window(PIN)
    assert mode.start(study, "obsB")
    qtbot.waitUntil(lambda: mode.views_shown() and win.patient is not None, timeout=60000)
    own, start, frame = mode.session.target_source, mode.session.study.start_source, win.patient.reference_frame.name
    state = mode.blinded_state(win.patient)
    colours = {(n, src): state.style((n, src, frame)).colour for n in ("CTVT_427", "Rectum") for src in (own, start)}
    assert len(set(colours.values())) == 4, colours  # two structures, the start mask and the observer's edit of each
    mode.end()


def test_reset_and_copy_in_a_study_use_only_the_masks_the_observer_may_see(study_window, drag, study, qtbot):
    win, mode = study_window(PIN)
    assert mode.start(study, "obsB")
    s, ctrl = mode.session, win.edit
    name, own, start = "CTVT_427", s.target_source, s.study.start_source
    assert not ctrl.reset_to(name, start)  # no working copy yet: nothing to reset
    mode.rate("quality", 3)
    mode.rate("confidence", 4)
    key = mode.edit_structure()
    assert key == (name, own)
    start_mask = win.patient.mask_obj(name, start)
    z, y, x = win.state.cursor
    drag(win.tri.views[0], [(z, y, x), (z, y, x + 10)], win.scene.shape)
    assert ctrl.session.working(key) != start_mask  # the stroke changed the working copy
    assert ctrl.reset_to(name, start)  # back to the start mask, through the study
    assert ctrl.session.working(key) == start_mask
    frame = win.patient.reference_frame
    hidden = sorted(src for (n, src), ref in frame.structures.items() if n == name and not s.can_open(src, ref.path))
    assert hidden  # the dataset's own step1_obsB files exist and are hidden from obsB
    for src in (*hidden, own):
        assert not ctrl.copy_from(name, src)
        assert f"{name} ({src}) is not available in this study" == win.statusBar().currentMessage()
    assert ctrl.session.working(key) == start_mask  # a refused copy changes nothing
    mode.end()


def test_a_hand_edited_dataset_copy_setting_does_not_stop_the_study_from_starting(
    study_window, study, study_dataset, qtbot
):
    from lundprobe_gui.study import definition_sha256
    from lundprobe_gui.ui.study_admin import COPY_KEY

    win, mode = study_window(PIN)
    key = COPY_KEY + definition_sha256(study)
    # "a, b" in the settings file reads back as a list: not a folder, so the recorded dataset is used
    win.settings.setValue(key, ["a", "b"])
    assert mode.remembered_copy(study) is None
    assert mode.start(study, "obsB")
    assert mode.session.dataset_root.resolve() == study_dataset.resolve()
    mode.end()
    win.settings.setValue(key, str(study_dataset))  # a real folder is still remembered
    assert mode.remembered_copy(study) == study_dataset


def test_the_study_modes_public_calls_do_nothing_without_a_session(study_window, study, qtbot):
    _win, mode = study_window(PIN)
    for _ in range(2):  # before the first session, and after it has ended
        assert mode.session is None
        assert mode.finish_masks() == {}
        assert mode.save_dirty() == []
        assert mode.edit_structure() is None
        assert not mode.finish_case(confirm=False)
        assert not mode.admin_unlock() and not mode.admin_override_washout()
        mode.select_structure("Rectum")
        mode.next_structure()
        mode.update_panel()
        assert mode.messages == []  # nothing to tell: no session, no message
        assert mode.start(study, "obsB")
        mode.end()
