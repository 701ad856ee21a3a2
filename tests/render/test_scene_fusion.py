"""The MRI/sCT checkerboard has square tiles on screen in every view, and a redrawn part matches the whole."""

from __future__ import annotations

import numpy as np
import pytest

import lundprobe_gui as lp
from lundprobe_gui.render.scene import SceneRenderer
from lundprobe_gui.render.slicing import pixel_aspect
from lundprobe_gui.render.state import ViewerState

TILE = 6


@pytest.fixture(scope="module")
def scene(demo_patient_path):
    p = lp.open_patient(demo_patient_path)
    p.load_all(workers=2)
    state = ViewerState()
    state.base.tile_px = TILE
    return SceneRenderer(p, state)


def _render(scene, axis, index, base, fusion, rect=None):
    scene.state.base.base, scene.state.base.fusion = base, fusion
    try:
        return scene.base_slice(axis, index, rect)
    finally:
        scene.state.base.base, scene.state.base.fusion = "mri", "none"


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_tiles_are_square_in_millimetres(scene, axis):
    index = scene.shape[axis] // 2
    mri = _render(scene, axis, index, "mri", "none")
    sct = _render(scene, axis, index, "sct", "none")
    fused = _render(scene, axis, index, "mri", "checkerboard")
    told = mri != sct  # where the two images differ, the fused pixel says which one it came from
    assert told.sum() > 500
    from_sct = fused == sct
    row_mm, col_mm = pixel_aspect(axis, scene.frame.geometry.spacing_zyx)
    tile_rows = max(1, round(TILE * col_mm / row_mm))  # the same height in mm as TILE columns are wide
    r, c = np.indices(mri.shape)
    expected = ((r // tile_rows) % 2 == 1) ^ ((c // TILE) % 2 == 1)
    assert np.array_equal(from_sct[told], expected[told])


def test_a_redrawn_rectangle_has_the_same_tiles(scene):
    axis, index = 2, scene.shape[2] // 2
    whole = _render(scene, axis, index, "mri", "checkerboard")
    rect = (5, 31, 17, 90)
    part = _render(scene, axis, index, "mri", "checkerboard", rect)
    np.testing.assert_array_equal(part, whole[5:31, 17:90])
