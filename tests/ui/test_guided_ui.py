"""The uncertainty-guided tools in the window: fold-vote preview and apply, hotspot navigation (N / Shift+N),
edge-aware brush and grow from seeds in every view, tool sets."""

import numpy as np
import pytest
from PySide6 import QtCore

from lundprobe_gui.edit import ToolSet

ORANGE = np.array([255, 140, 0], np.uint8)


@pytest.fixture()
def editing(window, tmp_path):
    window.edit.out_dir = tmp_path / "edits"
    assert window.edit_panel.select("CTVT_427", "nnUNet")
    window.edit_panel.start_btn.click()
    return window


def shows(view, colour) -> bool:
    return bool((view.image.image == colour).all(axis=-1).any())


@pytest.mark.slow
def test_fold_vote_preview_follows_k_and_applies_as_one_step(editing, qtbot):
    win = editing
    key = win.edit.active
    work = win.edit.session.working(key)
    start = work.to_full()
    qtbot.keyClick(win, QtCore.Qt.Key.Key_V)
    assert win.edit.tool_name == "fold_vote"
    centre = win.edit.active_guidance().fold_box()
    z = (centre[0][0] + centre[0][1]) // 2
    win.tri.set_cursor((z, *win.state.cursor[1:]))
    k_box = win.edit_panel.option("fold_vote", "k")
    k_box.setValue(1)
    preview = [k for k in win.scene.state.layers if k[1] == "1 of 10 folds agree"]
    assert len(preview) == 1 and win.scene.state.layers[preview[0]].colour == tuple(ORANGE)
    union = win.scene.mask_for(preview[0]).count()
    assert any(shows(v, ORANGE) for v in win.tri.views.values())  # the k-boundary is drawn
    k_box.setValue(10)
    (preview,) = [k for k in win.scene.state.layers if "folds agree" in k[1]]
    assert preview[1] == "10 of 10 folds agree" and win.scene.mask_for(preview).count() < union
    assert np.array_equal(work.to_full(), start)  # a preview changes nothing
    win.edit_panel.option("fold_vote", "scope").setCurrentIndex(2)  # whole structure
    depth = win.edit.session.history.undo_depth
    win.apply_tool()
    assert win.edit.session.history.undo_depth == depth + 1
    assert work.count() == win.scene.mask_for(preview).count()  # the structure is the 10-of-10 vote
    win.undo()
    assert np.array_equal(work.to_full(), start)


@pytest.mark.slow
def test_fold_vote_brush_in_the_coronal_view(editing, drag):
    win = editing
    work = win.edit.session.working(win.edit.active)
    before = work.to_full()
    win.choose_tool("fold_vote")
    win.edit_panel.option("fold_vote", "k").setValue(1)
    win.edit.set_brush_radius(6.0)
    guide = win.edit.active_guidance()
    box = guide.fold_box()
    z, y, x = ((a + b) // 2 for a, b in box)
    x_edge = box[2][1] - 3  # near the union's edge: k = 1 adds there
    win.tri.set_cursor((z, y, x))
    drag(win.tri.views[1], [(z, y, x_edge), (z + 2, y, x_edge)], win.scene.shape)
    diff = work.to_full() ^ before
    assert diff.any() and set(np.unique(np.nonzero(diff)[1])) == {y}  # coronal: one slice y
    assert win.edit.session.history.undo_depth == 1


@pytest.mark.slow
def test_hotspot_navigation_centres_the_views_and_counts_reviews(editing, qtbot, view_aspect):
    win = editing
    panel = win.hotspots
    qtbot.waitUntil(lambda: len(panel.nav) > 0, timeout=10000)
    assert panel.table.rowCount() == len(panel.nav)
    sizes = [h.voxels for h in panel.nav.hotspots]
    assert sizes == sorted(sizes, reverse=True)
    used = []
    win.edit.tool_used.connect(used.append)
    qtbot.keyClick(win, QtCore.Qt.Key.Key_N)
    first = panel.nav.hotspots[0]
    assert tuple(win.state.cursor) == first.centre
    for _axis, view in win.tri.views.items():
        r, c = view.voxel_to_display(first.centre)
        centre = view.vb.viewRect().center()
        row_mm, col_mm = view_aspect(view)
        assert abs(centre.x() - (c + 0.5) * col_mm) < 1 and abs(centre.y() - (r + 0.5) * row_mm) < 1
    panel.review_btn.click()
    assert panel.meter.text().startswith(f"1 of {len(panel.nav)} regions reviewed")
    qtbot.keyClick(win, QtCore.Qt.Key.Key_N, QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert tuple(win.state.cursor) == panel.nav.hotspots[panel.nav.current].centre
    assert [u.action for u in used] == ["navigate", "review", "navigate"]
    start = win.edit.session.working(win.edit.active).to_full()
    panel.accept_btn.click()  # nothing edited yet: accepting the DL boundary changes nothing
    assert np.array_equal(win.edit.session.working(win.edit.active).to_full(), start)
    assert "accepted" in panel.meter.text() and used[-1].action == "accept"


@pytest.mark.slow
def test_edge_brush_and_grow_in_the_sagittal_view(editing, drag):
    win = editing
    work = win.edit.session.working(win.edit.active)
    z, y, x = win.state.cursor
    shape = win.scene.shape
    win.choose_tool("edge_brush")
    before = work.to_full()
    drag(win.tri.views[2], [(z, y + 10, x), (z + 3, y + 14, x)], shape)  # sagittal: slice x
    diff = work.to_full() ^ before
    assert diff.any() and set(np.unique(np.nonzero(diff)[2])) == {x}
    win.choose_tool("grow")
    tool = win.edit.session.tool
    drag(win.tri.views[2], [(z, y - 3, x), (z, y + 3, x)], shape)
    assert [p.label for p in tool.previews()] == ["inside strokes"]
    assert tool.strokes[0][1].box[2] == (x, x + 1)


@pytest.mark.slow
def test_a_tool_set_without_folds_disables_the_fold_vote(editing, qtbot):
    win = editing
    win.edit.set_tool_set(ToolSet.for_step(["folds"], uncertainty_allowed=False))
    win.edit_panel.refresh()
    assert not win.edit_panel.tool_buttons["fold_vote"].isEnabled()
    qtbot.keyClick(win, QtCore.Qt.Key.Key_V)
    assert win.edit.tool_name != "fold_vote"
    assert "hidden" in win.edit.why_not("fold_vote")
    assert not win.hotspots.allowed and win.hotspots.step(+1) is None
