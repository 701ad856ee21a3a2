"""The guided tools: fold vote, edge-aware brush, grow from seeds; registry, options, tool sets and tool-use events."""

from __future__ import annotations

import numpy as np
import pytest

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.edit import EditSession, Guidance, ToolSet, tool_class, tool_classes
from lundprobe_gui.edit.edge_brush import EdgeBrushSettings, EdgeBrushTool
from lundprobe_gui.edit.fold_vote import FoldVoteSettings, FoldVoteTool
from lundprobe_gui.edit.grow import GrowSettings, GrowTool, grow_labels
from lundprobe_gui.edit.options import Option, set_option

from .conftest import drag, event, make_ctx

SHAPE = (9, 48, 48)


def ball(radius, centre=(4, 24, 24), shape=SHAPE, spacing=(1.0, 1.0, 1.0)):
    zz, yy, xx = np.indices(shape)
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip((zz, yy, xx), centre, spacing))
    return d2 <= radius**2


def nested_folds():
    """Ten folds: balls of radius 6..15, so fold i holds every voxel within 6 + i of the centre."""
    return [Mask.from_full(ball(6 + i)) for i in range(10)]


# -- registry and options -----------------------------------------------------------------------
def test_every_tool_describes_itself_and_names_and_keys_are_unique():
    classes = tool_classes()
    names = [c.name for c in classes]
    assert {"brush", "eraser", "polygon", "fold_vote", "edge_brush", "grow"} <= set(names)
    for c in classes:
        assert c.label and c.description, c.name
        tool = c()
        for opt in c.options:
            assert hasattr(tool.settings, opt.name)
    keys = [c.shortcut for c in classes if c.shortcut]
    assert len(keys) == len(set(keys))


@pytest.mark.slow
def test_option_coercion_clamps_and_refuses():
    opt = Option("radius_mm", "Radius", "float", 0.5, 50.0)
    settings = FoldVoteSettings()
    assert set_option(settings, opt, 80) == 50.0 and settings.radius_mm == 50.0
    with pytest.raises(ValueError, match=r"is not a number"):
        set_option(settings, opt, "wide")
    with pytest.raises(ValueError, match=r"is not a finite number"):
        set_option(settings, opt, float("nan"))
    k = tool_class("fold_vote").options[0]
    assert set_option(settings, k, 3.6) == 4 and settings.k == 4
    scope = next(o for o in FoldVoteTool.options if o.name == "scope")
    with pytest.raises(ValueError, match=r"'everywhere' is not one of"):
        set_option(settings, scope, "everywhere")
    radius = next(o for o in FoldVoteTool.options if o.name == "radius_mm")
    settings.scope = "structure"
    assert not radius.is_shown(settings)


# -- fold vote ----------------------------------------------------------------------------------
def fold_ctx(start=None):
    folds = nested_folds()
    start = ball(10) if start is None else start
    ctx = make_ctx(SHAPE, full=start)
    ctx.guide = Guidance(folds, None, Mask.from_full(ball(10)))
    return ctx


@pytest.mark.parametrize("k", [1, 3, 10])
@pytest.mark.slow
def test_fold_vote_whole_structure_equals_the_k_vote_in_one_undo_step(k):
    ctx = fold_ctx()
    tool = FoldVoteTool(FoldVoteSettings(k=k, scope="structure"))
    tool.activate(ctx)
    votes = sum(ball(6 + i).astype(int) for i in range(10))
    assert tool.apply((4, 24, 24), 0)
    assert np.array_equal(ctx.mask.to_full(), votes >= k)
    assert ctx.history.undo_depth == 1
    ctx.history.undo()
    assert np.array_equal(ctx.mask.to_full(), ball(10))
    # the preview shows exactly the k-boundary, before anything is applied
    (preview,) = tool.previews()
    assert np.array_equal(preview.mask.to_full(), votes >= k) and f"{k} of 10" in preview.label


@pytest.mark.slow
def test_fold_vote_brush_changes_only_the_footprint_and_slice_scope_only_the_slice():
    ctx = fold_ctx()
    start = ctx.mask.to_full()
    tool = FoldVoteTool(FoldVoteSettings(k=1, scope="brush", radius_mm=3.0))
    tool.activate(ctx)
    # a click at the right edge of the structure grows it there to the folds' union only
    drag(tool, [(4, 24, 34), (4, 20, 34)])
    diff = ctx.mask.to_full() ^ start
    assert diff.any() and set(np.nonzero(diff)[0]) == {4}
    assert diff[4].nonzero()[1].min() >= 31  # nothing changed far from the footprint
    assert np.array_equal(ctx.mask.to_full()[diff], ball(15)[diff])  # the union there
    assert ctx.history.undo_depth == 1
    tool.settings.scope = "slice"
    tool.settings.k = 10
    tool.on_event(event("click", (6, 24, 24)))
    now = ctx.mask.to_full()
    assert np.array_equal(now[6], ball(6)[6])  # intersection on the clicked slice
    assert np.array_equal(now[5], start[5])


def test_fold_vote_modes_only_add_or_only_remove():
    ctx = fold_ctx(start=ball(8) | (ball(12) & (np.indices(SHAPE)[2] < 20)))
    start = ctx.mask.to_full()
    tool = FoldVoteTool(FoldVoteSettings(k=5, scope="structure", mode="add"))
    tool.activate(ctx)
    tool.apply((4, 24, 24), 0)
    assert (ctx.mask.to_full() >= start).all() and ctx.mask.count() > start.sum()
    ctx.history.undo()
    tool.settings.mode = "remove"
    tool.apply((4, 24, 24), 0)
    assert (ctx.mask.to_full() <= start).all() and ctx.mask.count() < start.sum()


@pytest.mark.slow
def test_fold_vote_needs_folds():
    ctx = make_ctx(SHAPE, full=ball(10))
    assert "folds" in FoldVoteTool.unavailable(ctx)
    ctx.guide = Guidance(nested_folds())
    assert FoldVoteTool.unavailable(ctx) is None


# -- edge-aware brush ---------------------------------------------------------------------------
def two_tissue_image():
    img = np.full(SHAPE, 100.0, np.float32)
    img[:, :, 24:] = 300.0  # a sharp vertical edge at x = 24
    return img


@pytest.mark.parametrize("criterion", ["range", "gradient"])
@pytest.mark.slow
def test_edge_brush_stops_at_the_edge(criterion):
    ctx = make_ctx(SHAPE, image=two_tissue_image())
    tool = EdgeBrushTool(EdgeBrushSettings(radius_mm=8.0, criterion=criterion))
    tool.activate(ctx)
    drag(tool, [(4, 24, 20), (4, 30, 22)])  # starts on the dark side, close to the edge
    painted = ctx.mask.to_full()
    assert painted[4, 24, 20] and painted[4, 24, 14]
    assert not painted[:, :, 24:].any()  # nothing across the edge, though the brush reaches it
    plain = make_ctx(SHAPE)
    brush = tool_class("brush")()
    brush.settings.radius_mm = 8.0
    brush.activate(plain)
    drag(brush, [(4, 24, 20), (4, 30, 22)])
    assert plain.mask.to_full()[:, :, 24:].any()  # the plain brush does cross it


def test_edge_brush_right_button_erases_only_similar_voxels():
    full = np.zeros(SHAPE, bool)
    full[4, 10:40, 10:40] = True
    ctx = make_ctx(SHAPE, full=full, image=two_tissue_image())
    tool = EdgeBrushTool(EdgeBrushSettings(radius_mm=6.0))
    tool.activate(ctx)
    drag(tool, [(4, 24, 27), (4, 26, 27)], button="right")
    now = ctx.mask.to_full()
    assert not now[4, 24, 27] and now[4, 24, 22]  # erased on the bright side only
    assert ctx.history.undo_depth == 1


# -- grow from seeds ----------------------------------------------------------------------------
def disc_image():
    img = np.full(SHAPE, 50.0, np.float32)
    img[ball(9)] = 200.0
    return img + np.random.default_rng(0).normal(0, 3, SHAPE).astype(np.float32)


@pytest.mark.parametrize("method", ["watershed", "random_walker"])
@pytest.mark.slow
def test_grow_labels_follow_the_image(method):
    img = disc_image()
    labels = np.zeros(SHAPE, np.uint8)
    labels[4, 24, 20:28] = 1
    labels[4, 4, 4:44] = 2
    labels[4, 44, 4:44] = 2
    grown = grow_labels(img, labels, (1.0, 1.0, 1.0), method)
    truth = ball(9)
    assert (grown & truth).sum() / truth.sum() > 0.9
    assert (grown & ~truth).sum() < 0.1 * truth.sum()


def test_grow_tool_previews_then_applies_in_one_step_and_escape_drops_strokes():
    start = ball(9).copy()
    start[3:6, :, 25:] = False  # a missing wedge on three slices: what the user grows back
    ctx = make_ctx(SHAPE, full=start, image=disc_image())
    tool = GrowTool(GrowSettings(seed_radius_mm=1.0, margin_mm=3.0))
    tool.activate(ctx)
    drag(tool, [(4, 24, 26), (4, 24, 30)])  # inside stroke in the wedge
    assert [p.label for p in tool.previews()] == ["inside strokes"]
    drag(tool, [(4, 10, 28), (4, 24, 40), (4, 38, 28)], button="right")  # outside, beyond the edge
    labels = [p.label for p in tool.previews()]
    assert labels[:2] == ["inside strokes", "outside strokes"] and "grown" in labels[2]
    assert np.array_equal(ctx.mask.to_full(), start)  # nothing applied yet
    assert tool.apply((4, 24, 24), 0)
    grown = ctx.mask.to_full()
    assert ctx.history.undo_depth == 1
    wedge = ball(9) & ~start
    assert grown[4][wedge[4]].mean() > 0.9  # the wedge is back
    assert (grown[4] & ~ball(9)[4]).sum() < 0.1 * wedge[4].sum()  # and not much beyond the edge
    assert tool.previews() == ()  # strokes are dropped after applying
    drag(tool, [(4, 24, 20), (4, 24, 28)])
    tool.on_event(event("key", key="Escape"))
    assert tool.strokes == []


# -- tool sets and the tool-use event ---------------------------------------------------------------
def test_tool_set_follows_the_step_rules_and_the_session_refuses_forbidden_tools():
    blind = ToolSet.for_step(["clinical", "folds"], uncertainty_allowed=False)
    assert not blind.permits("fold_vote") and not blind.permits("hotspots") and blind.permits("grow")
    manual = ToolSet.manual()
    assert manual.permits("polygon") and not manual.permits("edge_brush")
    assert ToolSet.from_dict(manual.to_dict()) == manual
    session = EditSession((1.0, 1.0, 1.0), image=disc_image())
    session.start_editing("S", Mask.from_full(ball(5)), "obsF")
    session.tool_set = manual
    with pytest.raises(PermissionError):
        session.set_tool(EdgeBrushTool())
    session.set_tool(tool_class("brush")())
    session.tool_set = ToolSet(frozenset({"eraser"}))
    assert session.tool is None  # a tool that is no longer permitted is dropped


def test_session_reports_each_interaction_that_changed_the_structure():
    session = EditSession((1.0, 1.0, 1.0), guidance=lambda name: Guidance(nested_folds()))
    uses = []
    session.tool_used.connect(uses.append)
    session.start_editing("S", Mask.from_full(ball(10)), "obsF")
    brush = tool_class("brush")()
    brush.settings.radius_mm = 2.0
    session.set_tool(brush)
    for kind, x in (("press", 30), ("move", 34), ("release", 36)):
        session.handle(event(kind, (4, 24, x)))
    assert len(uses) == 1 and uses[0].tool == "brush" and uses[0].voxels_added > 0 and uses[0].voxels_removed == 0
    session.handle(event("click", (4, 24, 24)))  # painting inside the structure changes nothing
    assert len(uses) == 1
    session.set_tool(FoldVoteTool(FoldVoteSettings(k=10, scope="structure")))
    assert session.apply_tool((4, 24, 24), 0)
    assert uses[-1].tool == "fold_vote" and uses[-1].voxels_removed > 0
    assert uses[-1].to_dict()["structure"] == "S"


def test_guided_tools_do_nothing_without_their_data():
    ctx = make_ctx(SHAPE, full=ball(10))  # no folds, no image
    for tool in (FoldVoteTool(FoldVoteSettings(scope="structure")), EdgeBrushTool(), GrowTool()):
        tool.activate(ctx)
        drag(tool, [(4, 24, 30), (4, 24, 36)])
        assert not tool.apply((4, 24, 24), 0)
        assert np.array_equal(ctx.mask.to_full(), ball(10)) and ctx.history.undo_depth == 0


def test_grow_refuses_a_box_too_large_for_its_method(monkeypatch):
    import lundprobe_gui.edit.grow as grow

    monkeypatch.setitem(grow.MAX_BOX_VOXELS, "watershed", 100)
    ctx = make_ctx(SHAPE, image=disc_image())
    tool = GrowTool()
    tool.activate(ctx)
    drag(tool, [(4, 24, 20), (4, 24, 28)])
    drag(tool, [(4, 4, 4), (4, 44, 44)], button="right")
    assert tool.result() is None and not tool.apply((4, 24, 24), 0)
