"""Property: any sequence of tool applications is undone and redone exactly, one step per change."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.edit.brush import BrushSettings, BrushTool, EraserTool
from lundprobe_gui.edit.constraint import EditConstraint
from lundprobe_gui.edit.fill_holes import FillHolesSettings, FillHolesTool
from lundprobe_gui.edit.interpolate import InterpolateSettings, InterpolateTool
from lundprobe_gui.edit.islands import IslandsSettings, IslandsTool
from lundprobe_gui.edit.margin import MarginSettings, MarginTool
from lundprobe_gui.edit.polygon import PolygonSettings, PolygonTool
from lundprobe_gui.edit.session import EditSession
from lundprobe_gui.edit.smooth import SmoothSettings, SmoothTool

from .conftest import event

SHAPE = (6, 18, 20)
SPACING = (2.0, 0.7, 0.5)

axes = st.integers(0, 2)
points = st.tuples(st.floats(0, SHAPE[0] - 1), st.floats(-2, SHAPE[1] + 1), st.floats(-2, SHAPE[2] + 1))

brush_op = st.tuples(
    st.just("brush"),
    st.sampled_from(["brush", "eraser"]),
    st.floats(0.3, 3.0),
    st.booleans(),
    axes,
    st.lists(points, min_size=1, max_size=4),
    st.sampled_from(["left", "right"]),
)
polygon_op = st.tuples(
    st.just("polygon"),
    st.sampled_from(["add", "remove"]),
    axes,
    st.lists(points, min_size=3, max_size=6),
    st.booleans(),
)
whole_op = st.one_of(
    st.tuples(st.just("fill_holes"), st.booleans(), axes, points),
    st.tuples(st.just("islands"), st.sampled_from([6, 26]), st.sampled_from(["largest", "clicked"]), points),
    st.tuples(st.just("interpolate"), axes),
    st.tuples(st.just("margin"), st.sampled_from([-1.5, -0.7, 0.7, 2.1])),
    st.tuples(st.just("smooth"), st.sampled_from(["opening", "closing"]), st.sampled_from([0.7, 1.5])),
    st.tuples(st.just("switch"), st.integers(0, 1)),
    st.tuples(
        st.just("reset"),
    ),
)
operation = st.one_of(brush_op, polygon_op, whole_op)
initial = st.lists(
    st.tuples(
        st.integers(0, SHAPE[0] - 3),
        st.integers(0, SHAPE[1] - 7),
        st.integers(0, SHAPE[2] - 7),
        st.integers(1, 7),
        st.booleans(),
    ),
    max_size=4,
)


def build(blobs) -> Mask:
    full = np.zeros(SHAPE, bool)
    for z, y, x, n, hollow in blobs:
        full[z : z + 3, y : y + n, x : x + n] = True
        if hollow:
            # a closed cavity, so that fill holes has something to fill
            full[z + 1, y + 1 : y + n - 1, x + 1 : x + n - 1] = False
    return Mask.from_full(full)


def ev(kind, p, axis, button="left"):
    return event(kind, p, axis, slice_index=int(np.clip(round(p[axis]), 0, SHAPE[axis] - 1)), button=button)


def run_op(session: EditSession, op, keys, dl: Mask) -> None:
    kind = op[0]
    if kind == "brush":
        _, name, radius, three_d, axis, pts, button = op
        cls = BrushTool if name == "brush" else EraserTool
        tool = cls(BrushSettings(radius_mm=radius, three_d=three_d, mode="add" if name == "brush" else "remove"))
        session.set_tool(tool)
        session.handle(ev("press", pts[0], axis, button))
        for p in pts[1:]:
            session.handle(ev("move", p, axis, button))
        session.handle(ev("release", pts[-1], axis, button))
    elif kind == "polygon":
        _, mode, axis, pts, lasso = op
        session.set_tool(PolygonTool(PolygonSettings(mode=mode)))
        index = int(np.clip(round(pts[0][axis]), 0, SHAPE[axis] - 1))
        pts = [tuple(index if i == axis else v for i, v in enumerate(p)) for p in pts]
        if lasso:
            session.handle(ev("press", pts[0], axis))
            for p in pts[1:]:
                session.handle(ev("move", p, axis))
            session.handle(ev("release", pts[-1], axis))
        else:
            for p in pts:
                session.handle(ev("click", p, axis))
            session.handle(event("key", key="Return"))
    elif kind == "fill_holes":
        _, three_d, axis, p = op
        session.set_tool(FillHolesTool(FillHolesSettings(three_d=three_d)))
        session.handle(ev("click", p, axis))
    elif kind == "islands":
        _, conn, keep, p = op
        session.set_tool(IslandsTool(IslandsSettings(keep=keep, connectivity=conn)))
        session.handle(ev("click", p, 0))
    elif kind == "interpolate":
        session.set_tool(InterpolateTool(InterpolateSettings(axis=op[1])))
        session.handle(ev("click", (0, 0, 0), 0))
    elif kind == "margin":
        session.set_tool(MarginTool(MarginSettings(margin_mm=op[1])))
        session.handle(ev("click", (0, 0, 0), 0))
    elif kind == "smooth":
        session.set_tool(SmoothTool(SmoothSettings(operation=op[1], radius_mm=op[2])))
        session.handle(ev("click", (0, 0, 0), 0))
    elif kind == "switch":
        session.set_active(keys[op[1]])
    elif kind == "reset":
        session.reset_to(session.active_key, dl)


def snapshot(session: EditSession, keys) -> list[np.ndarray]:
    return [session.working(k).to_full() for k in keys]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial, initial, st.lists(operation, min_size=1, max_size=12), st.booleans())
def test_undo_all_restores_start_and_redo_all_restores_end(blobs_a, blobs_b, ops, locked):
    dl = build(blobs_a)
    session = EditSession(SPACING)
    keys = [session.start_editing("A", dl, "obs"), session.start_editing("B", build(blobs_b), "obs")]
    if locked:
        # B is locked while editing A and vice versa: exercises the constraint on every tool
        session.constraint = EditConstraint(locked=[session.working(k) for k in keys])
    states = [snapshot(session, keys)]
    for op in ops:
        run_op(session, op, keys, dl)
        now = snapshot(session, keys)
        if any(not np.array_equal(p, q) for p, q in zip(states[-1], now)):
            states.append(now)
    # one undo step per operation that changed something, none for no-ops
    assert session.history.undo_depth == len(states) - 1
    for want in reversed(states[:-1]):
        session.undo()
        for got, w in zip(snapshot(session, keys), want):
            np.testing.assert_array_equal(got, w)
    assert not session.history.can_undo
    for want in states[1:]:
        session.redo()
        for got, w in zip(snapshot(session, keys), want):
            np.testing.assert_array_equal(got, w)
    assert not session.history.can_redo
