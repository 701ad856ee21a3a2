"""File > Export in the window: the real case shown with its ROI colours and plan prescription, exported
from the dialog (off the GUI thread), and the export opens again."""

from __future__ import annotations

import pydicom
import pytest

import lundprobe_gui as lp

from .conftest import with_series


@pytest.mark.slow
def test_window_shows_the_case_and_exports_it(qtbot, rt_case, tmp_path):
    from lundprobe_gui.app import make_application
    from lundprobe_gui.ui.loader import load_patient
    from lundprobe_gui.ui.main_window import MainWindow

    make_application()
    win = MainWindow()
    win.ask = lambda *a, **k: "Discard"
    qtbot.addWidget(win)
    patient = lp.open_patient(rt_case)
    win.set_patient(patient)
    load_patient(patient)
    win.loader.image_ready.emit(patient)
    win.loader.finished.emit(patient)
    assert win.state.dose.prescription_gy == 14.0
    assert win.state.style(("Heart", "clinical", "CT")).colour == (255, 128, 0)
    dlg = win.export_dicom()
    dlg.format.setCurrentIndex(dlg.format.findData("seg"))
    for i in range(dlg.list.count()):
        item = dlg.list.item(i)
        if item.data(0x0100) not in ("Heart:clinical", "Tumor Bed:clinical"):  # Qt.UserRole
            item.setCheckState(item.checkState().Unchecked)
    dlg.folder.setText(str(tmp_path / "out"))
    with qtbot.waitSignal(dlg.finished_export, timeout=120_000) as sig:
        dlg.start()
    ok, text = sig.args
    assert ok, text
    seg = next((tmp_path / "out").glob("SEG.*.dcm"))
    assert [s.SegmentLabel for s in pydicom.dcmread(seg).SegmentSequence] == ["Heart", "Tumor Bed"]
    back = lp.open_patient(with_series(tmp_path / "again", rt_case, seg))
    assert (back.mask("Heart", back.sources()[0]) == patient.mask("Heart")).all()
    win.loader.cancel()
