"""A LUND-PROBE patient whose MRI cannot be used opens on its sCT, never on a black view."""

from __future__ import annotations

import numpy as np
import pytest

import lundprobe_gui as lp
from lundprobe_gui.render.window import preset_range


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("where", ["open", "load"])
def test_a_patient_without_a_usable_mri_shows_its_sct_with_the_ct_window(qtbot, patient_copy, where, monkeypatch):
    from lundprobe_gui.app import make_application
    from lundprobe_gui.ui.loader import load_patient
    from lundprobe_gui.ui.main_window import MainWindow

    mri_file = patient_copy / "MR_StorT2" / "image.nii.gz"
    if where == "open":  # found while the headers are read: the frame opens without its MRI
        _truncate(mri_file)
    p = lp.open_patient(patient_copy)
    if where == "load":  # the header was fine; the voxels fail only when they are read
        mri = p.reference_frame.images["image"]
        monkeypatch.setattr(mri, "load", lambda: (_ for _ in ()).throw(OSError("unreadable voxels")))
    make_application()
    win = MainWindow()
    qtbot.addWidget(win)
    win.set_patient(p)
    load_patient(p, sink=win.loader)  # the window's slots run as the loader reports
    assert "image" not in p.reference_frame.images and any(q.path == str(mri_file) for q in p.problems)
    assert win.state.base.base == "sct"
    assert win.display.base.currentIndex() == 1
    assert (win.display.window_width.value(), win.display.window_level.value()) == pytest.approx(
        (preset_range("CT")[1] - preset_range("CT")[0], sum(preset_range("CT")) / 2)
    )
    rgb = win.scene.render(0).rgb
    body = rgb[rgb.shape[0] // 2, :, :].astype(int).sum(axis=-1)
    assert np.count_nonzero(body) > rgb.shape[1] // 4  # the sCT's grey values, not a black view
