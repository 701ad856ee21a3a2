"""Patch history: strokes, no-op clicks, redo invalidation, memory cap, several structures."""

from __future__ import annotations

import numpy as np
import pytest

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.edit.apply import apply_region
from lundprobe_gui.edit.history import History
from lundprobe_gui.edit.region import Region

SHAPE = (4, 64, 64)


def square(z, y, x, n=4) -> Region:
    return Region(((z, z + 1), (y, y + n), (x, x + n)), np.ones((1, n, n), bool))


def apply(history: History, mask: Mask, region: Region, mode: str = "add"):
    patch = apply_region(mask, region, mode)
    history.record(patch)
    return patch


@pytest.mark.slow
def test_stroke_is_one_step_and_undo_restores():
    h, m = History(), Mask(SHAPE)
    h.begin_stroke()
    states = [m.to_full()]
    for i in range(10):
        apply(h, m, square(1, 5 + 3 * i, 5))
        states.append(m.to_full())
    assert h.end_stroke()
    assert h.undo_depth == 1
    box = h.undo()
    np.testing.assert_array_equal(m.to_full(), states[0])
    assert box == ((1, 2), (5, 36), (5, 9))
    assert h.redo() is not None
    np.testing.assert_array_equal(m.to_full(), states[-1])


@pytest.mark.parametrize("step", [1, 40])
@pytest.mark.slow
def test_merged_and_listed_strokes_undo_exactly(step):
    # step 1: compact stroke, merged into one union patch; step 40: sparse, kept as a list
    h, m = History(), Mask(SHAPE)
    apply(h, m, square(0, 0, 0, 8))
    before = m.to_full()
    with h.stroke():
        for i in range(3):
            apply(h, m, square(0, 2 + step * i % 56, 2 + i), "add")
            apply(h, m, square(0, 1 + step * i % 56, 1 + i, 2), "remove")
    after = m.to_full()
    assert h.undo_depth == 2
    h.undo()
    np.testing.assert_array_equal(m.to_full(), before)
    h.redo()
    np.testing.assert_array_equal(m.to_full(), after)


@pytest.mark.slow
def test_noop_records_nothing():
    h, m = History(), Mask(SHAPE)
    apply(h, m, square(1, 1, 1))
    assert h.undo_depth == 1
    assert apply(h, m, square(1, 1, 1)) is None
    h.begin_stroke()
    apply(h, m, square(1, 2, 2, 2))
    assert not h.end_stroke()
    assert h.undo_depth == 1


def test_new_edit_clears_redo():
    h, m = History(), Mask(SHAPE)
    apply(h, m, square(0, 0, 0))
    apply(h, m, square(1, 0, 0))
    h.undo()
    assert h.can_redo
    apply(h, m, square(2, 0, 0))
    assert not h.can_redo and h.redo() is None
    assert h.undo_depth == 2


def test_undo_redo_on_empty_history():
    h = History()
    assert not h.can_undo and not h.can_redo
    assert h.undo() is None and h.redo() is None


def test_memory_cap_drops_oldest():
    m = Mask(SHAPE)
    probe = History()
    apply(probe, m, square(0, 0, 0, 16))
    one = probe.nbytes
    h = History(max_bytes=int(3.5 * one))
    m = Mask(SHAPE)
    for i in range(6):
        apply(h, m, square(i % 4, 16 * (i // 4), 0, 16))
    assert h.undo_depth == 3 and h.nbytes <= h.max_bytes
    while h.can_undo:
        h.undo()
    # the three newest steps were undone; the three oldest squares remain
    full = m.to_full()
    assert full[0:3, 0:16, 0:16].all() and not full[3].any() and not full[:, 16:].any()


def test_oversized_step_is_kept():
    h = History(max_bytes=10)
    m = Mask(SHAPE)
    apply(h, m, square(0, 0, 0))
    apply(h, m, square(1, 0, 0))
    assert h.undo_depth == 1
    h.undo()
    assert not m.to_full()[1].any() and m.to_full()[0].any()


def test_blocks_are_packed():
    h, m = History(), Mask((1, 256, 256))
    p = apply(h, m, Region(((0, 1), (0, 256), (0, 256)), np.ones((1, 256, 256), bool)))
    assert p.nbytes == 2 * 256 * 256
    assert h.nbytes < p.nbytes / 7


def test_several_structures_in_one_history():
    h = History()
    a, b = Mask(SHAPE), Mask(SHAPE)
    apply(h, a, square(0, 0, 0))
    with h.stroke():
        apply(h, b, square(1, 1, 1))
        apply(h, a, square(2, 2, 2))
    h.undo()
    assert a.count() == 16 and b.count() == 0
    assert {id(m) for m, _ in h.last_changed} == {id(a), id(b)}
    h.undo()
    assert a.count() == 0
    h.redo()
    h.redo()
    assert a.count() == 32 and b.count() == 16


def test_undo_during_stroke_closes_it():
    h, m = History(), Mask(SHAPE)
    h.begin_stroke()
    apply(h, m, square(0, 0, 0))
    apply(h, m, square(0, 8, 8))
    assert h.can_undo
    h.undo()
    assert m.count() == 0 and not h.in_stroke


def test_forget_drops_one_structure():
    h = History()
    a, b = Mask(SHAPE), Mask(SHAPE)
    apply(h, a, square(0, 0, 0))
    apply(h, b, square(0, 0, 0))
    h.forget(b)
    assert h.undo_depth == 1
    h.undo()
    assert a.count() == 0 and b.count() == 16
