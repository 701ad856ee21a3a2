"""The simulated corrector on a small case: it stops at the goal, counts interactions, never sees the target."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.corrector import CorrectionCase, simulate_correction
from lundprobe_gui.corrector.case import uniform_shrink
from lundprobe_gui.corrector.errors import ErrorFinder
from lundprobe_gui.corrector.user import SimulatedUser

from .test_edit_guided import ball

SHAPE = (16, 64, 64)
SP = (2.5, 0.5, 0.5)


def case(target: np.ndarray, folds=True) -> CorrectionCase:
    start = ball(9, (8, 32, 32), SHAPE, SP)
    fold_masks = [Mask.from_full(ball(7 + 0.6 * i, (8, 32, 32), SHAPE, SP)) for i in range(10)] if folds else []
    img = np.where(start, 200.0, 50.0).astype(np.float32)
    return CorrectionCase(
        "P",
        "CTV",
        "t",
        "observer",
        SP,
        img,
        np.zeros(SHAPE, np.float32),
        Mask.from_full(start),
        Mask.from_full(target),
        fold_masks,
    )


def test_the_user_is_never_given_the_target():
    names = {f.name for f in dataclasses.fields(SimulatedUser)}
    assert not {n for n in names if "target" in n}


@pytest.mark.slow
def test_corrector_fixes_a_bump_and_stops_at_the_goal():
    zz, yy, xx = np.indices(SHAPE)
    target = ball(9, (8, 32, 32), SHAPE, SP) | (
        (((yy - 32) * 0.5) ** 2 + ((xx - 52) * 0.5) ** 2 <= 16) & (abs(zz - 8) <= 2)
    )
    for toolset in ("manual", "guided", "guided_judged"):
        r = simulate_correction(case(target), toolset)
        assert r.reached and r.surface_dice >= 0.95 and r.start_surface_dice < 0.95
        assert 1 <= r.interactions < 20 and sum(r.tools.values()) == r.interactions
    manual = simulate_correction(case(target), "manual")
    assert set(manual.tools) <= {"brush", "eraser", "polygon"}


@pytest.mark.slow
def test_nothing_to_do_costs_nothing_and_the_cap_holds():
    start = ball(9, (8, 32, 32), SHAPE, SP)
    r = simulate_correction(case(start), "guided")
    assert r.interactions == 0 and r.surface_dice == 1.0
    far = np.zeros(SHAPE, bool)
    far[2:14, 2:62, 2:62] = True
    capped = simulate_correction(case(far), "manual", max_interactions=3)
    assert capped.interactions == 3 and not capped.reached


@pytest.mark.slow
def test_uniform_shrink_and_error_finder():
    start = Mask.from_full(ball(9, (8, 32, 32), SHAPE, SP))
    shrunk = uniform_shrink(start, 1.0, SP)
    assert shrunk.count() < start.count() and not (shrunk.to_full() & ~start.to_full()).any()
    finder = ErrorFinder(shrunk, SP, 2.0)
    spot = finder.next_error(start)
    assert spot.kind == "remove" and not spot.significant.any()  # 1 mm is within the tolerance
    assert finder.next_error(shrunk) is None
