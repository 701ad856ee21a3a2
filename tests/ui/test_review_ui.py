"""AI-review mode in the window: a scripted review of three StructSeg cases, the rating rules on the
buttons, refused reviews, active time, and the other layouts."""

import csv
import json

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from dicom.synth import write_collection  # tests/dicom
from PySide6 import QtCore, QtWidgets

import lundprobe_gui as lp
from lundprobe_gui.cli import main as cli_main
from lundprobe_gui.core.modality import default_window_preset
from lundprobe_gui.demo.other_layouts import write_multilabel_case, write_structseg_dataset
from lundprobe_gui.render.window import preset_range
from lundprobe_gui.review import LIKERT_SCALE, ReviewSession, columns, init_review, load_protocol
from lundprobe_gui.session.activetime import active_seconds
from lundprobe_gui.ui.review_mode import TARGET_SOURCE

# -- helpers --------------------------------------------------------------------------------------


def _label(path):
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


class Prompts:
    """Stands in for the window's modal prompt: records every question, answers from a script."""

    def __init__(self):
        self.asked: list[tuple[str, str, tuple]] = []
        self.answers: list[str] = []

    def __call__(self, text, info, buttons):
        self.asked.append((text, info, tuple(buttons)))
        if self.answers:
            return self.answers.pop(0)
        return "Discard" if "Discard" in buttons else buttons[0]


def _settle(mode):
    """Let the review's background writer finish and its reports reach the window (saves never block it)."""
    assert mode.wait_saved(60)
    for _ in range(3):
        QtWidgets.QApplication.processEvents()


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture()
def structseg_root(tmp_path):
    root = tmp_path / "structseg"
    write_structseg_dataset(root, cases=3, seed=11, table="json")  # one GTV per case, named by labels.json
    return root


@pytest.fixture()
def review_dir(structseg_root, tmp_path, capsys):
    out = tmp_path / "review_R1"
    assert cli_main(["review", "init", str(out), "--dataset", str(structseg_root), "--reviewer", "R1"]) == 0
    capsys.readouterr()
    return out


@pytest.fixture()
def win(qtbot):
    from lundprobe_gui.app import make_application
    from lundprobe_gui.ui.main_window import MainWindow

    make_application()
    w = MainWindow()
    w.prompts = Prompts()
    w.ask = w.prompts
    qtbot.addWidget(w)
    w.resize(1500, 950)
    w.show()
    qtbot.waitExposed(w)
    w.review_mode.load_in_background = False
    yield w
    w.review_mode.end_review()
    w.loader.cancel()


# -- the scripted review --------------------------------------------------------------------------
@pytest.mark.slow
def test_scripted_review_of_three_structseg_cases(drag, win, review_dir, structseg_root, qtbot, fake_clock):
    mode, panel = win.review_mode, win.review_mode.panel
    assert "Review" in [a.text().replace("&", "") for a in win.menuBar().actions()]
    assert mode.start(review_dir)
    s = mode.session
    assert mode.dock.isVisible() and (review_dir / "review.lock").is_file()
    assert s.case_ids == ["1", "2", "3"]
    # the scale's definitions are on screen beside the radio buttons
    for lv in LIKERT_SCALE:
        assert lv.label in panel.rating_buttons[lv.score].text()
        assert panel.rating_meanings[lv.score].text().startswith(lv.meaning)
        assert panel.rating_meanings[lv.score].isVisible()

    added_by_case = {}
    for k, (case, score) in enumerate((("1", 5), ("2", 3), ("3", 2))):
        assert s.current.case_id == case and win.patient is s.patient
        assert panel.progress_label.text().startswith(f"Case {k + 1} of 3")
        # the CT opens in the mediastinum window
        assert default_window_preset(win.patient) == "mediastinum"
        assert win.state.base.windows["mri"] == preset_range("mediastinum")
        assert panel.segment == "GTV" and win.state.is_shown(("GTV", "clinical", "CT"))
        assert not panel.correct_btn.isEnabled()  # not rated yet
        assert "rate GTV first" in panel.correct_btn.toolTip()
        assert not panel.finish_btn.isEnabled()

        panel.rating_buttons[score].click()
        assert s.case_state().ratings == {"GTV": score}
        fake_clock.advance(5.0 * (k + 1))  # the reviewer looks at the case for a while: its whole active time
        if score == 5:
            assert not panel.correct_btn.isEnabled()
            assert panel.correct_btn.toolTip() == s.edit_refusal("GTV") and "use as is" in panel.correct_btn.toolTip()
            assert not panel.discard_btn.isEnabled()
            qtbot.keyClicks(panel.find_comment, "no further nodules")
        else:
            assert panel.correct_btn.isEnabled() and s.can_edit("GTV")
            panel.correct_btn.click()
            key = ("GTV", TARGET_SOURCE)
            assert win.edit.active == key and win.edit.tool_name == "brush"
            assert win.tri.views[0].mode == "edit"
            assert panel.discard_btn.isEnabled()
            work = win.edit.session.working(key)
            before = work.to_full()
            ai = win.patient.mask("GTV", "clinical").copy()
            z, y, x = win.state.cursor  # the panel put the cursor at the GTV's centre
            assert ai[z, y, x]
            dx = 12 if case == "2" else -12
            drag(win.tri.views[0], [(z, y, x), (z, y, x + dx // 2), (z, y, x + dx)], win.scene.shape)
            after = work.to_full()
            added = after & ~before
            assert added.any() and set(np.unique(np.nonzero(added)[0])) == {z} and after[z, y, x + dx]
            assert np.array_equal(win.patient.mask("GTV", "clinical"), ai)  # the AI segment is untouched
            added_by_case[case] = after
            qtbot.waitUntil(lambda: panel.segment_table.item(0, 2).text() == "correcting (unsaved)", timeout=2000)
            assert panel.save_btn.isEnabled()
            qtbot.keyClicks(panel.seg_comment, f"GTV too small, case {case}")
            if case == "3":
                qtbot.keyClicks(panel.find_comment, "pleural effusion")
        assert panel.finish_btn.isEnabled()
        panel.finish_btn.click()

    assert s.current is None
    assert "All 3 cases are finished" in panel.done_label.text()
    assert not win.edit.dirty()
    _settle(mode)  # the corrections and review-results.csv are written in the background

    rows = _rows(review_dir / "review-results.csv")
    with open(review_dir / "review-results.csv", newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert (
        header
        == columns(load_protocol(review_dir))
        == [
            "case ID",
            "reviewer",
            "AI segmentation file",
            "corrected segmentation file",
            "GTV rating",
            "segmentation comment",
            "findings comment",
            "active review time (s)",
        ]
    )
    assert [r["case ID"] for r in rows] == ["1", "2", "3"]
    assert all(r["reviewer"] == "R1" for r in rows)
    assert [r["AI segmentation file"] for r in rows] == ["1/label.nii.gz", "2/label.nii.gz", "3/label.nii.gz"]
    assert [r["GTV rating"] for r in rows] == ["5", "3", "2"]
    assert rows[0]["corrected segmentation file"] == ""
    assert rows[1]["corrected segmentation file"] == "output/2/label_v001.nii.gz"
    assert rows[2]["corrected segmentation file"] == "output/3/label_v001.nii.gz"
    assert [r["segmentation comment"] for r in rows] == ["", "GTV too small, case 2", "GTV too small, case 3"]
    assert [r["findings comment"] for r in rows] == ["no further nodules", "", "pleural effusion"]
    assert [float(r["active review time (s)"]) for r in rows] == [5.0, 10.0, 15.0]
    # the corrected label maps hold the brushed masks; the inputs are unchanged
    for case in ("2", "3"):
        saved = _label(review_dir / "output" / case / "label_v001.nii.gz")
        assert np.array_equal(saved == 1, added_by_case[case])
        original = _label(structseg_root / case / "label.nii.gz")
        assert not np.array_equal(saved, original) and np.array_equal(np.unique(original), [0, 1])
    assert not (review_dir / "output" / "1").exists()

    assert mode.end_review()
    assert not (review_dir / "review.lock").exists() and mode.session is None
    # the same session framework as a study: an interaction log from which the active times are recomputed
    log = [json.loads(x) for x in (review_dir / "events.jsonl").read_text().splitlines()]
    kinds = {e["kind"] for e in log}
    assert {"open", "case_open", "rating", "stroke", "correction", "finish", "close"} <= kinds
    assert all(e["voxels_added"] > 0 for e in log if e["kind"] == "stroke")
    state = ReviewSession(review_dir, lock=False)
    again = active_seconds(log, state.protocol.idle_rule, ("case",))
    for cid in ("1", "2", "3"):
        assert again[(cid,)]["active"] == pytest.approx(state.state.cases[cid].active_seconds)
    assert win.actions["save_edits"].isEnabled() and win.edit_panel.save_btn.isEnabled()  # the editor's Save is back
    assert not [q for q in win.prompts.asked if q[2] != ("OK",) and "Unsaved" in q[0]]


@pytest.mark.slow
def test_rating_five_discards_a_correction_only_after_asking(drag, win, review_dir, qtbot):
    mode, panel = win.review_mode, win.review_mode.panel
    assert mode.start(review_dir)
    s = mode.session
    panel.rating_buttons[2].click()
    panel.correct_btn.click()
    z, y, x = win.state.cursor
    drag(win.tri.views[0], [(z, y, x), (z, y, x + 10)], win.scene.shape)
    key = ("GTV", TARGET_SOURCE)
    assert win.edit.session.is_dirty(key)
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)  # Ctrl+S: to the review
    _settle(mode)
    assert s.case_state().corrected == ["GTV"] and (review_dir / "output" / "1" / "label_v001.nii.gz").is_file()
    assert not win.actions["save_edits"].isEnabled() and not win.edit_panel.save_btn.isEnabled()

    win.prompts.answers = ["Cancel"]
    panel.rating_buttons[5].click()
    assert "Rate GTV 5" in win.prompts.asked[-1][0]
    assert s.case_state().ratings["GTV"] == 2 and panel.rating_buttons[2].isChecked()
    assert s.case_state().corrected == ["GTV"] and key in win.edit.session.keys()  # noqa: SIM118 - not a dict

    win.prompts.answers = ["Discard correction"]
    panel.rating_buttons[5].click()
    _settle(mode)  # a label map gets its AI voxels back in a new version, written in the background
    assert s.case_state().ratings["GTV"] == 5 and s.case_state().corrected == []
    assert key not in win.edit.session.keys() and not panel.correct_btn.isEnabled()  # noqa: SIM118 - not a dict
    assert not panel.discard_btn.isEnabled()
    # the AI segment is shown again
    assert np.array_equal(
        win.patient.mask("GTV", "clinical"), _label(s.protocol.case_dir(s.current) / "label.nii.gz") == 1
    )
    assert win.scene.mask_for(("GTV", "clinical", "CT")) is not None


@pytest.mark.slow
def test_leaving_a_case_with_an_unsaved_correction_asks(drag, win, review_dir, qtbot):
    mode, panel = win.review_mode, win.review_mode.panel
    assert mode.start(review_dir)
    panel.rating_buttons[4].click()
    panel.correct_btn.click()
    z, y, x = win.state.cursor
    drag(win.tri.views[0], [(z, y, x), (z, y, x + 10)], win.scene.shape)
    win.prompts.answers = ["Cancel"]
    assert not mode.open_case("2")
    assert mode.session.current.case_id == "1"
    win.prompts.answers = ["Save"]
    assert mode.open_case("2")
    assert "Unsaved corrections of GTV" in win.prompts.asked[-1][0]
    _settle(mode)
    assert (review_dir / "output" / "1" / "label_v001.nii.gz").is_file()
    assert mode.session.state.cases["1"].corrected == ["GTV"]
    assert mode.session.current.case_id == "2" and panel.progress_label.text().startswith("Case 2 of 3")


@pytest.mark.slow
def test_locked_corrupt_and_wrong_folders_are_refused_with_a_message(win, review_dir, tmp_path, structseg_root):
    mode = win.review_mode
    other = ReviewSession(review_dir)  # a session of the same review is open
    try:
        assert not mode.start(review_dir)
        text, info, buttons = win.prompts.asked[-1]
        assert "already open" in text and "session" in info and buttons == ("OK",)
    finally:
        other.close()
    assert mode.session is None and not mode.dock.isVisible()

    assert not mode.start(tmp_path / "not_a_review")
    assert "review init" in win.prompts.asked[-1][1]

    broken = tmp_path / "broken"
    init_review(broken, structseg_root, "R2")
    (broken / "state.json").write_text("{not json", encoding="utf-8")
    assert not mode.start(broken)
    text, info, _ = win.prompts.asked[-1]
    assert "Cannot open the review" in text and "state.json" in info and "left untouched" in info
    assert (broken / "state.json").read_text(encoding="utf-8") == "{not json"
    assert not (broken / "review.lock").exists()

    assert mode.start(review_dir)  # the released review opens
    assert mode.session.current.case_id == "1"


@pytest.mark.slow
def test_active_time_counts_input_and_pauses_while_minimised(win, review_dir, qtbot, monkeypatch, fake_clock):
    mode = win.review_mode
    assert mode.start(review_dir)
    s = mode.session
    t0 = fake_clock.now  # the case opened now
    calls = []
    real = s.activity
    monkeypatch.setattr(s, "activity", lambda now=None: (calls.append(fake_clock.now), real(now)))
    port = win.tri.views[0].graphics.viewport()
    for i in range(6):
        qtbot.mouseMove(port, QtCore.QPoint(40 + 5 * i, 60))
    qtbot.keyClick(mode.panel.seg_comment, QtCore.Qt.Key.Key_A)
    assert calls == [t0]  # throttled: at most one report a second
    fake_clock.advance(0.5)
    qtbot.mouseMove(port, QtCore.QPoint(80, 80))
    assert calls == [t0]
    fake_clock.advance(0.5)
    qtbot.mouseMove(port, QtCore.QPoint(90, 80))
    assert calls == [t0, t0 + 1.0]
    assert s.active_seconds() == 1.0
    fake_clock.advance(2.0)
    assert s.active_seconds() == 3.0  # the clock runs between inputs

    # minimised: the clock stops at once; restored: it runs again
    win.showMinimized()
    qtbot.waitUntil(lambda: bool(win.windowState() & QtCore.Qt.WindowState.WindowMinimized), timeout=2000)
    QtWidgets.QApplication.processEvents()
    fake_clock.advance(30.0)
    assert s.active_seconds() == 3.0
    win.showNormal()
    qtbot.waitUntil(lambda: not win.windowState() & QtCore.Qt.WindowState.WindowMinimized, timeout=2000)
    QtWidgets.QApplication.processEvents()
    fake_clock.advance(5.0)
    assert s.active_seconds() == 8.0
    mode.on_clock()
    assert mode.panel.time_label.text() == "Active review time 0:00:08"


@pytest.mark.slow
def test_other_layouts_open_in_review_mode(win, tmp_path, demo_root):
    mode = win.review_mode
    # a multi-label case with a CT image: one segment per label, the mediastinum window
    ml = tmp_path / "ml"
    write_multilabel_case(ml / "npc01", seed=3, image="ct")
    init_review(tmp_path / "rev_ml", ml, "R3")
    assert mode.start(tmp_path / "rev_ml")
    assert win.patient.layout == "multilabel"
    assert mode.panel.segment_table.rowCount() == 6
    assert mode.panel.segment_table.item(0, 0).text() == "R_II+III+Va"
    assert (
        win.state.base.windows["mri"] == preset_range(default_window_preset(win.patient)) == preset_range("mediastinum")
    )
    mode.panel.select_segment("L_Ib")
    z, y, x = win.state.cursor
    assert win.patient.mask("L_Ib", mode.session.current.source)[z, y, x]
    assert mode.end_review()

    # LUND-PROBE: the nnUNet structures are the AI segmentation; the MRI keeps its auto window
    init_review(tmp_path / "rev_lp", demo_root, "R4")
    assert mode.start(tmp_path / "rev_lp")
    p = win.patient
    assert p.layout == "lundprobe" and mode.session.current.source == "nnUNet"
    names = [mode.panel.segment_table.item(i, 0).text() for i in range(mode.panel.segment_table.rowCount())]
    assert set(names) == {"CTVT_427", "Rectum"}
    assert default_window_preset(p) == "MRI auto"
    assert win.state.base.windows["mri"] == preset_range("MRI auto", p.reference_frame.images["image"].data)
    for n in names:
        assert win.state.is_shown((n, "nnUNet", p.reference_frame.name))
    assert not win.state.is_shown(("CTVT_427", "clinical", p.reference_frame.name))  # only the AI is shown
    # correct the DL CTV, accept the rectum as is
    mode.panel.select_segment("CTVT_427")
    mode.panel.rating_buttons[3].click()
    mode.panel.correct_btn.click()
    z, y, x = win.state.cursor
    for kind, dx in (("press", 0), ("move", 8), ("release", 16)):
        win.edit.handle(kind, 0, (z, y, x + dx))
    mode.panel.select_segment("Rectum")
    assert win.edit.active is None  # the tools edit only the selected segment's working copy
    mode.panel.rating_buttons[5].click()
    mode.panel.finish_btn.click()
    _settle(mode)
    row = _rows(tmp_path / "rev_lp" / "review-results.csv")[0]
    assert row["CTVT_427 rating"] == "3" and row["Rectum rating"] == "5"
    assert row["AI segmentation file"].count(";") == 1 and "nnUNet" in row["AI segmentation file"]
    corrected = tmp_path / "rev_lp" / row["corrected segmentation file"]
    assert corrected.is_file() and "CTVT_427" in corrected.name and ";" not in row["corrected segmentation file"]


@pytest.mark.slow
def test_background_loading_and_screenshot(win, review_dir, qtbot, tmp_path):
    """The default (background) loading, and what the window looks like in review mode."""
    mode = win.review_mode
    mode.load_in_background = True
    assert mode.start(review_dir)
    mode.wait_loaded(30)
    qtbot.waitUntil(lambda: win.state.base.windows.get("mri") == preset_range("mediastinum"), timeout=5000)
    qtbot.waitUntil(lambda: not win.progress.isVisible(), timeout=5000)
    mode.panel.rating_buttons[3].click()
    mode.panel.correct_btn.click()
    qtbot.wait(50)
    path = tmp_path / "review_mode.png"
    assert win.grab().save(str(path))
    img = win.tri.views[0].image.image  # the axial view's pixels: CT in the mediastinum window
    grey = img[..., 0].astype(int)
    assert (grey < 10).mean() > 0.3  # air and lungs are black
    assert ((grey > 100) & (grey < 160)).mean() > 0.1  # soft tissue is mid-grey
    assert (grey > 245).any()  # the spine is white


@pytest.mark.slow
def test_another_patient_pauses_the_review_and_closing_asks_about_corrections(
    drag, win, review_dir, qtbot, demo_patient_path, fake_clock
):
    mode, panel = win.review_mode, win.review_mode.panel
    assert mode.start(review_dir)
    s = mode.session
    other = lp.open_patient(demo_patient_path)
    win.set_patient(other)  # File > Open while reviewing
    assert s.current is None and panel.resume_btn.isVisibleTo(panel) and not panel.case_box.isEnabled()
    t = s.active_seconds("1")  # with the running part, if any
    fake_clock.advance(30.0)
    assert s.active_seconds("1") == t  # the case's clock stopped
    panel.resume_btn.click()
    assert s.current.case_id == "1" and win.patient is s.patient and panel.case_box.isEnabled()

    panel.rating_buttons[2].click()
    panel.correct_btn.click()
    z, y, x = win.state.cursor
    drag(win.tri.views[0], [(z, y, x), (z, y, x + 10)], win.scene.shape)
    win.prompts.answers = ["Cancel"]
    assert not win.close()
    assert win.isVisible() and mode.session is s and (review_dir / "review.lock").is_file()
    win.prompts.answers = ["Save"]
    assert win.close()
    assert mode.session is None and not (review_dir / "review.lock").exists()
    assert (review_dir / "output" / "1" / "label_v001.nii.gz").is_file()
    assert ReviewSession(review_dir, lock=False).state.cases["1"].corrected == ["GTV"]


@pytest.mark.slow
def test_review_of_a_published_style_dicom_collection(win, drag, tmp_path, qtbot, capsys):
    """Rate, brush a correction, finish: the correction is a DICOM-SEG and the qa-results row names it."""
    root = tmp_path / "kidney-ct"
    write_collection(root)
    rv = tmp_path / "rv"
    assert cli_main(["review", "init", str(rv), "--dataset", str(root), "--reviewer", "rad1"]) == 0
    mode, panel = win.review_mode, win.review_mode.panel
    assert mode.start(rv)
    s = mode.session
    assert win.patient is s.patient and win.patient.layout == "dicom"
    assert panel.segment == "Liver" and win.state.is_shown(("Liver", "AI", "CT"))
    panel.rating_buttons[2].click()
    panel.correct_btn.click()
    key = ("Liver", TARGET_SOURCE)
    work = win.edit.session.working(key)
    before = work.to_full()
    z, y, x = win.state.cursor
    assert win.patient.mask("Liver", "AI")[z, y, x]
    drag(win.tri.views[0], [(z, y, x), (z, y, x + 6), (z, y, x + 12)], win.scene.shape)
    after = work.to_full()
    assert (after & ~before).any()
    qtbot.waitUntil(lambda: panel.save_btn.isEnabled(), timeout=3000)
    panel.segment_table.selectRow(1)
    qtbot.waitUntil(lambda: panel.segment == "Kidney", timeout=3000)
    panel.rating_buttons[5].click()
    panel.finish_btn.click()
    _settle(mode)  # written in the background
    saved = sorted((rv / "output").rglob("*.dcm"))
    assert len(saved) == 1 and saved[0].parent.name == "qa-segmentations-dcm"
    seg = pydicom.dcmread(saved[0])
    assert [x.SegmentLabel for x in seg.SegmentSequence] == ["Liver", "Kidney"]
    capsys.readouterr()
    assert cli_main(["review", "export", str(rv), "--format", "qa-results"]) == 0
    rows = list(csv.DictReader((rv / "qa-results.csv").open()))
    assert rows[0]["CorrectedSegmentation"] == saved[0].name
    assert rows[0]["Was the AI predicted Liver label accurate?"] == "2"
    assert rows[0]["Was the AI predicted Kidney label accurate?"] == "5"
    s2_patient = s.open_case(s.case_ids[0])
    assert np.array_equal(s2_patient.mask("Liver", "AI"), after)
