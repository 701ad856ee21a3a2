"""Review mode in the window on a published-style collection: rate, correct with the brush, finish;
the correction is a DICOM-SEG and the qa-results row names it."""

from __future__ import annotations

import csv

import numpy as np
import pydicom
import pytest
from dicom.synth import write_collection  # tests/dicom, beside this folder

from lundprobe_gui.cli import main as cli_main
from lundprobe_gui.ui.review_mode import TARGET_SOURCE


@pytest.fixture()
def win(qtbot):
    from lundprobe_gui.app import make_application
    from lundprobe_gui.ui.main_window import MainWindow

    make_application()
    w = MainWindow()
    w.ask = lambda text, info, buttons: "Discard" if "Discard" in buttons else buttons[0]
    qtbot.addWidget(w)
    w.resize(1500, 950)
    w.show()
    qtbot.waitExposed(w)
    w.review_mode.load_in_background = False
    yield w
    w.review_mode.end_review()
    w.loader.cancel()


def test_window_review_of_a_collection(win, drag, tmp_path, qtbot, capsys):
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
