"""A display a clinician can read: what shows on open, colours that tell layers apart, text shown whole."""

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from lundprobe_gui.render.colormaps import dose_colour, structure_colour
from lundprobe_gui.render.slicing import voxel_to_display
from lundprobe_gui.render.window import preset_range
from lundprobe_gui.ui.slice_view import qimage_to_array


def _px(win, axis, zyx):
    r, c = voxel_to_display(axis, zyx, win.scene.shape)
    return win.tri.views[axis].image.image[int(round(r)), int(round(c))].astype(int)


@pytest.mark.slow
def test_on_open_image_clinical_outlines_and_isodose_lines_the_rest_one_key_away(window, qtbot):
    win = window
    st = win.state
    assert not st.dose.wash and st.dose.lines and not st.uncertainty.visible
    shown = {k for k in st.layers if st.is_shown(k)}
    assert shown and {k[1] for k in shown} == {"clinical"}
    c = st.cursor
    grey = _px(win, 0, c)
    assert grey[0] == grey[1] == grey[2]  # no wash over the CTV centre
    # the isodose lines are drawn: some pixel of the view has the 95 % line colour
    img = win.tri.views[0].image.image
    line = np.array(dose_colour(0.95 * st.dose.prescription_gy, st.dose.prescription_gy, win.scene.dose().vmax))
    assert (np.abs(img.astype(int) - line).max(axis=-1) <= 2).any()
    qtbot.keyClick(win, QtCore.Qt.Key.Key_U)
    assert st.uncertainty.visible and st.uncertainty.maps == {"CTVT_427"}  # one map, not both


def _unc_pixels(win, colours):
    """Pixels the uncertainty map colours in the axial view, rendered with ``colours``."""
    st = win.state
    st.uncertainty.colours = colours
    st.uncertainty.opacity = 1.0
    win.tri.refresh()
    img = win.tri.views[0].image.image.astype(int)
    st.uncertainty.visible = False
    win.tri.refresh()
    plain = win.tri.views[0].image.image.astype(int)
    st.uncertainty.visible = True
    return img[(img != plain).any(-1)]


@pytest.mark.slow
def test_the_uncertainty_map_cannot_be_confused_with_the_dose_wash(window):
    win = window
    st = win.state
    st.dose.lines = False
    st.uncertainty.visible = True
    assert st.uncertainty.colours == "magenta"
    unc = _unc_pixels(win, "magenta")
    assert len(unc) > 50
    # dose wash hues run blue-cyan-green-yellow-red; the map's pixels are purple to pink: red and blue over green
    assert ((unc[:, 0] > unc[:, 1]) & (unc[:, 2] > unc[:, 1])).mean() > 0.95
    dose_hues = np.array(
        [dose_colour(f * 42.7, 42.7, 45.0) for f in np.linspace(0.1, 1.05, 40)], dtype=int
    )  # every colour of the wash
    nearest = np.abs(unc[:, None, :] - dose_hues[None, :, :]).sum(-1).min(axis=1)
    assert np.median(nearest) > 120
    # the dataset's rainbow is still there, and the combo box offers it
    rainbow = _unc_pixels(win, "rainbow")
    assert len(rainbow) > 50 and not ((rainbow[:, 0] > rainbow[:, 1]) & (rainbow[:, 2] > rainbow[:, 1])).mean() > 0.95
    labels = [win.display.unc_colours.itemText(i) for i in range(win.display.unc_colours.count())]
    assert "rainbow (dataset)" in labels


@pytest.mark.slow
def test_editing_a_structure_shows_its_own_uncertainty_map(window):
    win = window
    assert win.state.uncertainty.maps == {"CTVT_427"}
    assert win.edit_panel.select("Rectum", "nnUNet")
    win.edit_panel.start_btn.click()
    assert win.state.uncertainty.maps == {"Rectum"}
    it = QtWidgets.QTreeWidgetItemIterator(win.layers)
    checks = {}
    while it.value():
        checks[it.value().text(0)] = it.value().checkState(0)
        it += 1
    assert checks["Uncertainty CTVT_427"] == QtCore.Qt.CheckState.Unchecked


@pytest.mark.slow
def test_dl_structures_folds_and_edited_structures_have_distinct_colours(window):
    win = window
    frame = win.patient.reference_frame.name
    colour = lambda n, s: win.state.style((n, s, frame)).colour  # noqa: E731
    assert colour("CTVT_427", "nnUNet") != colour("Rectum", "nnUNet")
    for name in ("CTVT_427", "Rectum"):
        folds = [colour(name, f"nnUNet_fold_{i}") for i in range(10)]
        assert len(set(folds)) == 10
    ctv_folds = {colour("CTVT_427", f"nnUNet_fold_{i}") for i in range(10)}
    rectum_folds = {colour("Rectum", f"nnUNet_fold_{i}") for i in range(10)}
    assert not ctv_folds & rectum_folds
    edited = []
    for name in ("CTVT_427", "Rectum", "Bladder"):
        win.edit.start_editing(name, "clinical", "obsF")
        edited.append(colour(name, "obsF"))
    assert len(set(edited)) == 3
    # every colour of the table can be overridden by the user's file; unknown sources still get one
    assert structure_colour("CTVT_427", "someone_else") == structure_colour("Rectum", "someone_else")


@pytest.mark.slow
def test_titles_and_letters_sit_on_a_dark_backing(window, qtbot):
    win = window
    win.state.base.windows["mri"] = (-2.0, -1.0)  # every pixel white: the brightest anatomy there is
    win.tri.refresh()
    view = win.tri.views[0]
    view.vb.scaleBy((0.2, 0.2))  # the image fills the view, under the labels too
    qtbot.wait(20)
    shot = qimage_to_array(view.graphics.grab().toImage())
    for lab in (view.title, view.letters["left"], view.letters["top"]):
        r = lab.geometry()
        rgba = shot[r.top() : r.bottom(), r.left() : r.right()]
        text = (rgba[..., 0] > 150) & (rgba[..., 1] > 120) & (rgba[..., 2] < 120)  # the yellow letters
        assert text.any(), lab.text()
        backing = rgba[~text][:, :3].astype(int)
        assert np.median(backing.sum(-1)) < 3 * 90, lab.text()


@pytest.mark.slow
def test_pelvic_t2_presets_and_custom_after_a_manual_change(window):
    win = window
    items = [win.display.preset.itemText(i) for i in range(win.display.preset.count())]
    assert {"T2 pelvis", "T2 prostate", "T2 high contrast"} <= set(items)
    data = win.patient.image().data
    windows = {name: preset_range(name, data) for name in ("MRI auto", "T2 pelvis", "T2 prostate", "T2 high contrast")}
    assert len(set(windows.values())) == 4
    lo, hi = windows["T2 prostate"]
    ctv = win.patient.mask("CTVT_427")
    inside = np.median(data[ctv])
    assert lo < inside < hi  # the prostate is not saturated
    win.apply_preset("T2 prostate")
    assert win.state.base.windows["mri"] == windows["T2 prostate"]
    assert win.display.preset.currentText() == "T2 prostate"
    win.display.window_width.setValue(win.display.window_width.value() + 50)  # typed by the user
    assert win.display.preset.currentText() == "custom"
    win.tri.views[0].window_dragged.emit(10.0, 5.0)
    assert win.display.preset.currentText() == "custom"


@pytest.mark.slow
def test_slice_counters_ticks_layer_names_and_shortcuts_are_shown_whole(window, qtbot):
    win = window
    # slice counters: the title label fits its text after the number grows a digit
    view = win.tri.views[1]
    win.tri.set_cursor((win.state.cursor[0], 5, win.state.cursor[2]))
    win.tri.set_cursor((win.state.cursor[0], 118, win.state.cursor[2]))
    fm = QtGui.QFontMetrics(view.title.font())
    assert view.title.text().endswith("119/171")
    assert view.title.width() >= fm.horizontalAdvance(view.title.text())
    # colour bar ticks
    bar = win.tri.dose_bar
    fm = QtGui.QFontMetrics(bar._font())  # noqa: SLF001 - the tick labels' font is derived privately by the bar
    assert bar.bar is not None and bar.width() >= 31 + max(fm.horizontalAdvance(t.label) for t in bar.bar.ticks)
    # layer names and their style: each column as wide as its widest row, and both within the panel
    tree = win.layers
    tree.expandAll()
    qtbot.wait(20)
    for col in (0, 1):
        assert tree.header().sectionSize(col) >= tree.sizeHintForColumn(col)
    assert tree.header().length() <= tree.viewport().width()
    # the shortcuts table
    from lundprobe_gui.ui.shortcuts import ShortcutsDialog

    dlg = ShortcutsDialog(parent=win)
    dlg.show()
    qtbot.waitExposed(dlg)
    t = dlg.table
    assert t.columnWidth(0) >= t.sizeHintForColumn(0)
    for row in range(t.rowCount()):
        text = t.item(row, 1).text()
        needed = t.fontMetrics().boundingRect(
            QtCore.QRect(0, 0, t.columnWidth(1) - 8, 10_000), QtCore.Qt.TextFlag.TextWordWrap, text
        )
        assert t.rowHeight(row) >= needed.height(), text
    dlg.close()


@pytest.mark.slow
def test_analysis_opens_in_one_window_that_leaves_the_views_their_size(window, qtbot):
    win = window
    before = [v.size() for v in win.tri.views.values()]
    win.show_analysis(1)
    win.show_analysis(0)
    dock = win.analysis_dock
    qtbot.waitUntil(dock.isVisible, timeout=2000)
    assert dock.isFloating() and win.analysis_tabs.count() == 3
    assert win.analysis_tabs.currentWidget() is win.metrics_panel
    assert [d for d in win.findChildren(QtWidgets.QDockWidget) if d.objectName() in ("Metrics", "DVH")] == []
    qtbot.wait(50)
    assert [v.size() for v in win.tri.views.values()] == before
    dock.close()  # one close for all three
    assert not dock.isVisible()
    win.metrics_panel.wait(60)
    win.dvh_panel.wait(60)


@pytest.mark.slow
def test_the_slice_counter_and_the_top_letter_never_overlap_in_a_narrow_view(window, qtbot):
    view = window.tri.views[2]  # sagittal: "Sagittal 128/256" is the longest title
    window.tri.set_cursor((*window.state.cursor[:2], 200))
    for width in (700, 330, 240):
        view.setFixedWidth(width)
        qtbot.wait(30)
        title, top = view.title.geometry(), view.letters["top"].geometry()
        assert top.isValid() and not title.intersects(top), (width, title, top)
        assert top.center().x() == pytest.approx(view.graphics.width() / 2, abs=2)  # still centred
    view.setMinimumWidth(0)
    view.setMaximumWidth(16777215)
