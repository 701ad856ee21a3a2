"""The tri-planar viewer, driven through Qt events and checked on the pixels the views show."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from PySide6 import QtCore

from lundprobe_gui.render.slicing import voxel_to_display
from lundprobe_gui.ui.main_window import structure_centre


def _view_pixel(win, axis, zyx):
    """The RGB the renderer put at a voxel in a view (what ImageItem shows)."""
    view = win.tri.views[axis]
    img = view.image.image
    r, c = voxel_to_display(axis, zyx, win.scene.shape)
    return img[int(round(r)), int(round(c))]


@pytest.mark.slow
def test_opens_on_patient_with_crosshair_at_ctv_centre(window):
    c = structure_centre(window.patient)
    assert window.state.cursor == c
    assert window.patient.mask("CTVT_427")[c]
    for axis, v in window.tri.views.items():
        assert v.image.image is not None and v.index == c[axis]
        assert v.image.image.dtype == np.uint8 and v.image.image.flags.c_contiguous


@pytest.mark.slow
def test_a_drag_in_the_blank_views_before_a_patient_is_opened_does_nothing(qtbot):
    # A drag in navigate mode moves the crosshair; with no patient there is no crosshair, and the
    # window used to raise from the drag handler (pytest-qt fails the test on any exception in a slot).
    from lundprobe_gui.app import make_application
    from lundprobe_gui.ui.main_window import MainWindow

    make_application()
    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    for view in win.tri.views.values():
        assert view.mode == "navigate"
        port = view.graphics.viewport()
        c = port.rect().center()
        qtbot.mousePress(port, QtCore.Qt.MouseButton.LeftButton, pos=c)
        for d in (5, 10, 20, 30):
            qtbot.mouseMove(port, c + QtCore.QPoint(d, d))
            qtbot.wait(5)
        qtbot.mouseRelease(port, QtCore.Qt.MouseButton.LeftButton, pos=c + QtCore.QPoint(30, 30))
    assert win.patient is None and win.state is None and win.scene is None


def test_choosing_the_output_folder_before_a_patient_is_opened_starts_in_the_home_folder(qtbot, monkeypatch):
    # With no folder configured the default is beside the patient's dataset; before a patient is open
    # there is none, and File > Output folder... used to raise instead of showing the dialog.
    from pathlib import Path

    from PySide6 import QtWidgets

    from lundprobe_gui.app import make_application
    from lundprobe_gui.ui.main_window import MainWindow

    make_application()
    win = MainWindow()
    qtbot.addWidget(win)
    win.edit.out_dir = None  # a first run: no output folder remembered
    asked = []
    monkeypatch.setattr(
        QtWidgets.QFileDialog, "getExistingDirectory", lambda parent, title, start: asked.append(start) or ""
    )
    win.actions["output_dir"].trigger()
    assert asked == [str(Path.home())]
    assert win.edit.out_dir is None  # cancelled: nothing chosen


def test_click_links_the_three_views(window, qtbot, view_aspect):
    view = window.tri.views[0]
    target = (window.state.cursor[0], 60, 90)  # z stays, y/x change
    r, c = voxel_to_display(0, target, window.scene.shape)
    row_mm, col_mm = view_aspect(view)
    scene_pt = view.vb.mapViewToScene(QtCore.QPointF((c + 0.5) * col_mm, (r + 0.5) * row_mm))
    widget_pt = view.graphics.mapFromScene(scene_pt)
    qtbot.mouseClick(view.graphics.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=widget_pt)
    assert window.state.cursor == target
    assert window.tri.views[1].index == 60  # coronal slice y
    assert window.tri.views[2].index == 90  # sagittal slice x


@pytest.mark.slow
def test_keys_scroll_slices_and_toggle_layers(window, qtbot):
    window.tri.active_axis = 0
    z = window.state.cursor[0]
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Up)
    assert window.state.cursor[0] == z + 1 and window.tri.views[0].index == z + 1
    qtbot.keyClick(window, QtCore.Qt.Key.Key_PageDown)
    assert window.state.cursor[0] == z - 4
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Up)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Up)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Up)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Up)
    c = window.state.cursor
    before = _view_pixel(window, 0, c).copy()
    assert before[0] == before[1] == before[2]  # on open: plain grey MRI at the CTV centre, no wash
    qtbot.keyClick(window, QtCore.Qt.Key.Key_D)  # dose wash on: one key away
    assert window.state.dose.wash
    washed = _view_pixel(window, 0, c).copy()
    assert washed[0] > washed[2]  # the centre of the CTV gets the red end of the wash
    qtbot.keyClick(window, QtCore.Qt.Key.Key_U)
    assert window.state.uncertainty.visible
    qtbot.keyClick(window, QtCore.Qt.Key.Key_D)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_U)
    assert not window.state.dose.wash and not window.state.uncertainty.visible
    assert np.array_equal(_view_pixel(window, 0, c), before)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_S)
    assert not window.state.structures_on
    qtbot.keyClick(window, QtCore.Qt.Key.Key_B)
    assert window.state.base.base == "sct"


@pytest.mark.slow
def test_readout_shows_dose_at_cursor(window):
    z, y, x = window.state.cursor
    dose = window.patient.dose().array()[z, y, x]
    text = window.tri.readout.text()
    assert f"dose {dose:.2f} Gy" in text
    assert f"({100 * dose / 42.7:.1f} %)" in text
    assert "CTVT_427" in text.split("in:")[1]


@pytest.mark.slow
def test_maximise_and_restore(window, qtbot):
    tri = window.tri
    quarter = tri.views[0].size()
    for axis in (0, 2):  # the top-left view and one in the other column
        tri.toggle_maximise(axis)
        assert tri.views[axis].isVisible() and not tri.views[(axis + 1) % 3].isVisible()
        qtbot.waitUntil(lambda axis=axis: tri.views[axis].width() > 0.9 * tri.width(), timeout=2000)
        assert tri.views[axis].height() > 0.9 * tri.height()  # it takes the whole area, not its quarter
        tri.toggle_maximise()
        assert all(v.isVisible() for v in tri.views.values())
        qtbot.waitUntil(lambda: tri.views[0].size() == quarter, timeout=2000)


@pytest.mark.slow
def test_orientation_letters_and_aspect(window, view_aspect):
    v = window.tri.views[2]  # sagittal
    assert v.letters["top"].text() == "S" and v.letters["left"].text() == "A"
    row_mm, col_mm = view_aspect(v)
    assert row_mm == pytest.approx(window.patient.geometry.spacing[2])
    assert col_mm == pytest.approx(window.patient.geometry.spacing[1])


@pytest.mark.slow
def test_screenshot_command_renders_and_exits_cleanly(demo_patient_path, tmp_path):
    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    r = subprocess.run(
        [sys.executable, "-m", "lundprobe_gui", "screenshot", str(demo_patient_path), str(out), "--size", "1200x800"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "Fatal Python error" not in r.stderr
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (800, 1200, 3)
    # dose wash colours (red/yellow/green) are present, and the image is not blank
    red = (img[..., 0] > 200) & (img[..., 1] < 80) & (img[..., 2] < 80)
    assert red.sum() > 50
    assert img.std() > 20


@pytest.mark.slow
def test_screenshot_show_only_selected_layers(demo_patient_path, tmp_path):
    out = tmp_path / "plain.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "lundprobe_gui",
            "screenshot",
            str(demo_patient_path),
            str(out),
            "--show",
            "Bladder",
            "--size",
            "1200x800",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    img = np.asarray(Image.open(out).convert("RGB")).astype(int)[:, 300:850]  # the views, not the side panels
    red = (img[..., 0] > 200) & (img[..., 1] < 80) & (img[..., 2] < 80)
    yellow = (img[..., 0] > 200) & (img[..., 1] > 200) & (img[..., 2] < 80)
    assert red.sum() < 5  # no dose wash when only the bladder is asked for
    assert yellow.sum() > 20  # the bladder outline is there
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "lundprobe_gui",
            "screenshot",
            str(demo_patient_path),
            str(out),
            "--show",
            "NoSuchThing",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 2 and "NoSuchThing" in r.stderr


@pytest.mark.slow
def test_every_shortcut_is_listed_in_help(window):
    from lundprobe_gui.ui.shortcuts import SHORTCUTS

    listed = {k for s in SHORTCUTS for k in s.keys}
    bound = {seq.toString() for a in window.actions.values() for seq in a.shortcuts()}
    from PySide6 import QtGui

    listed_norm = {QtGui.QKeySequence(k).toString() for k in listed}
    assert bound and bound <= listed_norm, sorted(bound - listed_norm)


@pytest.mark.slow
def test_analysis_panels_and_edit_map(window, qtbot):
    window.show_analysis(0)
    qtbot.waitUntil(lambda: bool(window.metrics_panel.rows()), timeout=60000)
    rows = window.metrics_panel.rows()
    pair = next(
        r for r in rows if r["reference"] == "nnUNet" and r["test"] == "step1_obsB" and r["structure"] == "CTVT_427"
    )
    assert 0 < pair["dice"] < 1
    comp = next(
        c
        for c in window.metrics_panel.comparisons()
        if (c.structure, c.reference, c.test) == ("CTVT_427", "nnUNet", "step1_obsB")
    )
    dl = window.patient.mask("CTVT_427", "nnUNet")
    obs = window.patient.mask("CTVT_427", "step1_obsB")
    z = int(np.argmax((dl ^ obs).sum(axis=(1, 2))))
    window.tri.set_cursor((z, *window.state.cursor[1:]))
    plain = window.tri.views[0].image.image.copy()
    window.show_edit_map(comp)
    assert window.state.edit_map == (("CTVT_427", "nnUNet", "MRI"), ("CTVT_427", "step1_obsB", "MRI"))
    mapped = window.tri.views[0].image.image
    changed = (mapped != plain).any(-1)
    diff = (dl ^ obs)[z]  # axial display order is (y, x) as stored
    assert changed[diff].mean() > 0.5 and not changed[~diff].any()
    added = (obs & ~dl)[z]
    if added.any():  # added voxels lean green, removed ones magenta
        px = mapped[added & changed].astype(int)
        assert (px[:, 1] > px[:, 0]).mean() > 0.8
    window.show_edit_map(None)
    assert np.array_equal(window.tri.views[0].image.image, plain)


@pytest.mark.slow
def test_only_shown_layers_redraw_the_views_while_loading(window):
    win = window
    frame = win.patient.reference_frame
    fold = next(r for r in frame.structures.values() if r.source.startswith("nnUNet_fold"))
    ctv = frame.structures[("CTVT_427", "clinical")]
    assert not win.state.is_shown(fold.key) and win.state.is_shown(ctv.key)
    timer = win._refresh_timer  # noqa: SLF001 - the coalescing redraw timer has no public handle
    timer.stop()
    win.loader.layer_loaded.emit(win.patient, fold.path)  # hidden on open: the loader keeps the CPU
    assert not timer.isActive()
    win.loader.layer_loaded.emit(win.patient, ctv.path)
    assert timer.isActive()
    timer.stop()
    win.loader.layer_loaded.emit(win.patient, str(next(iter(frame.doses.values())).path))  # the dose is shown
    assert timer.isActive()
    timer.stop()
    sct = str(frame.images["sCT"].path)
    win.loader.layer_loaded.emit(win.patient, sct)  # the sCT under the MRI is not drawn
    assert not timer.isActive()
    win.state.base.base = "sct"
    win.loader.layer_loaded.emit(win.patient, sct)
    assert timer.isActive()
    timer.stop()
    win.state.base.base = "mri"


@pytest.mark.slow
def test_each_base_image_keeps_its_own_window_and_preset(window):
    from lundprobe_gui.render.state import CT_WINDOW
    from lundprobe_gui.render.window import preset_range

    win = window
    mri_window = win.state.base.windows["mri"]
    assert mri_window == preset_range("MRI auto", win.patient.image().data)
    assert win.display.preset.currentText() == "MRI auto"
    win.actions["toggle_base"].trigger()  # to the sCT: its own CT window, not the MRI's
    assert win.state.base.base == "sct"
    assert win.scene.window("sct") == CT_WINDOW
    assert win.display.preset.currentText() == "CT"
    assert (win.display.window_width.value(), win.display.window_level.value()) == (360.0, 20.0)
    win.tri.views[0].window_dragged.emit(30.0, 0.0)  # dragging makes it a window of its own
    assert win.display.preset.currentText() == "custom" and win.scene.window("sct") != CT_WINDOW
    win.actions["toggle_base"].trigger()
    assert win.state.base.windows["mri"] == mri_window and win.display.preset.currentText() == "MRI auto"


@pytest.mark.slow
def test_opening_on_the_sct_gives_the_mri_its_auto_window(window):
    # what `screenshot --base sct` does: the base is the sCT before the first image arrives
    from lundprobe_gui.render.state import CT_WINDOW
    from lundprobe_gui.render.window import preset_range

    win = window
    win.set_patient(win.patient)
    win.state.base.base = "sct"
    win.loader.image_ready.emit(win.patient)
    assert win.scene.window("sct") == CT_WINDOW and win.display.preset.currentText() == "CT"
    assert win.state.base.windows["mri"] == preset_range("MRI auto", win.patient.image().data)


@pytest.mark.slow
def test_a_structure_that_loads_redraws_its_outline_and_keeps_the_dose_layers(window, qtbot, monkeypatch):
    import lundprobe_gui.render.scene as scene_module

    win = window
    ref = win.patient.reference_frame.structures[("Bladder", "clinical")]
    axial = win.tri.views[0]
    centre = tuple(int(v.mean()) for v in np.nonzero(win.patient.mask("Bladder")))
    axial.clicked.emit(0, centre, QtCore.Qt.KeyboardModifier.NoModifier)  # loading does not move it back to the CTV
    assert tuple(win.state.cursor) == centre
    with_bladder = axial.image.image.copy()
    # as if the bladder had not arrived yet: its outline is cached as nothing
    win.patient.register_structure(ref)  # registered again without voxels
    assert not win.patient.is_mask_loaded(ref)
    win.scene.invalidate(ref.key)
    win.tri.refresh()
    assert (axial.image.image != with_bladder).any()
    redone = []  # the dose wash and isodose lines computed again
    for name in ("dose_wash_layer", "isodose_lines"):
        real = getattr(scene_module, name)
        monkeypatch.setattr(scene_module, name, lambda *a, _f=real, _n=name, **k: redone.append(_n) or _f(*a, **k))
    win.patient.mask_obj("Bladder")  # it loads, and the loader says so
    win.loader.layer_loaded.emit(win.patient, ref.path)
    qtbot.waitUntil(lambda: np.array_equal(axial.image.image, with_bladder), timeout=2000)
    assert redone == []  # the dose wash and isodose lines were not redone


def _label_rects(view):
    items = [it for it in view._iso_items if it.isVisible()]  # noqa: SLF001 - isodose labels have no public handle
    return [it.textItem.mapRectToScene(it.textItem.boundingRect()) for it in items]


@pytest.mark.slow
def test_isodose_labels_never_cover_each_other_and_return_to_their_lines_when_zoomed_in(window, qtbot):
    import itertools

    for view in window.tri.views.values():
        assert len(_label_rects(view)) >= 3, view.axis
        view.vb.scaleBy((6.0, 6.0))  # zoomed far out: every line is a few pixels from the next
        qtbot.wait(20)
        rects = _label_rects(view)
        for a, b in itertools.combinations(rects, 2):
            assert not a.intersects(b), (view.axis, a, b)
        view.vb.scaleBy((1 / 300.0, 1 / 300.0))  # zoomed in 50x: room for every label at its own line
        qtbot.wait(20)
        # the label items and the points of their lines have no public handle
        shown = [it for it in view._iso_items if it.isVisible()]  # noqa: SLF001
        anchors = [tuple(a) for a in view._iso_anchors]  # noqa: SLF001
        assert [(it.pos().x(), it.pos().y()) for it in shown] == anchors


@pytest.mark.slow
def test_one_legend_lists_the_shown_structures_and_l_hides_it(window, qtbot):
    legend = window.tri.legend
    text = legend.text()
    assert legend.isVisible() and "CTVT_427" in text and "Rectum" in text
    assert not any(v.legend.isVisible() for v in window.tri.views.values())  # one legend, not one per view
    # the dark fiducial mask is drawn with a white halo: its swatch carries it, or it would vanish
    fid_row = next(row for row in text.split("<tr>") if "fiducial" in row)
    assert "background-color:rgb(255, 255, 255)" in fid_row
    qtbot.keyClick(window, QtCore.Qt.Key.Key_L)
    assert not legend.isVisible()
    window.actions["next_slice"].trigger()  # a new slice does not bring it back
    assert not legend.isVisible()
    qtbot.keyClick(window, QtCore.Qt.Key.Key_L)
    assert legend.isVisible()
    # a maximised view hides the cell the legend is in: the view shows it instead
    window.tri.toggle_maximise(0)
    assert window.tri.views[0].legend.isVisible() and "CTVT_427" in window.tri.views[0].legend.text()
    window.tri.toggle_maximise()
    assert legend.isVisible() and not window.tri.views[0].legend.isVisible()


@pytest.mark.slow
def test_outlines_stay_whole_on_screen_when_the_view_shows_the_slice_smaller(window, qtbot):
    from scipy import ndimage

    from lundprobe_gui.ui.slice_view import qimage_to_array

    ctv = (150, 40, 220)
    for key, st in window.state.layers.items():
        st.visible = key[0] == "CTVT_427" and key[1] == "clinical"
    window.state.dose.wash = window.state.dose.lines = window.state.uncertainty.visible = False
    window.state.fiducials_on = False  # their markers sit on the CTV
    window.tri.refresh()
    view = window.tri.views[0]
    view.hline.setVisible(False)
    view.vline.setVisible(False)
    view.set_legend_enabled(False)  # its swatch has the CTV's colour too

    def rings() -> tuple[int, int]:
        qtbot.wait(20)
        shot = qimage_to_array(view.graphics.grab().toImage())[..., :3]
        on = (shot == ctv).all(axis=-1)
        return ndimage.label(on, structure=np.ones((3, 3)))[1], int(on.sum())

    assert view.line_scale == (1, 1) and rings()[0] == 1
    view.vb.scaleBy((2.0, 2.0))  # more than one image pixel per screen pixel: nearest scaling drops some
    qtbot.wait(20)
    assert min(view.line_scale) >= 2 and window.scene.line_scale(0) == view.line_scale
    count, pixels = rings()
    assert count == 1 and pixels > 20, (count, pixels)  # one closed ring, not a trail of dots


def test_a_view_that_opens_smaller_than_its_image_draws_thick_lines_from_the_first_frame(qtbot, demo_patient_path):
    import lundprobe_gui as lp
    from lundprobe_gui.app import make_application
    from lundprobe_gui.render.scene import SceneRenderer
    from lundprobe_gui.ui.loader import load_patient
    from lundprobe_gui.ui.main_window import default_state
    from lundprobe_gui.ui.tri_view import TriView

    make_application()
    patient = lp.open_patient(demo_patient_path)
    load_patient(patient)
    tri = TriView()
    qtbot.addWidget(tri)
    tri.resize(420, 320)  # the axial view gets fewer screen pixels than its 256 image columns
    tri.show()
    qtbot.waitExposed(tri)
    scene = SceneRenderer(patient, default_state(patient))
    tri.bind(scene)  # one refresh: the views fit their first image, and find their line scale doing so
    view = tri.views[0]
    assert min(view.line_scale) >= 2 and scene.line_scale(0) == view.line_scale
    # what the view shows was drawn at that scale, not the frame drawn before the view was fitted
    np.testing.assert_array_equal(view.image.image, scene.render(0).rgb)
