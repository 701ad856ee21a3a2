"""nibabel's own anatomical.nii (stored LAS) and copies nibabel writes in other orders show the same pictures."""

from __future__ import annotations

import os
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

import lundprobe_gui as lp
from lundprobe_gui.render.scene import SceneRenderer
from lundprobe_gui.render.slicing import display_to_voxel, orientation_labels
from lundprobe_gui.render.state import ViewerState

from .nibabel_data import NIBABEL_DATA

ORDERS = {"LAS": None, "LPS": ("L", "P", "S"), "RAS": ("R", "A", "S"), "sagittal": ("A", "S", "L")}
WORLD = (4.0, -6.0, 2.0)  # RAS mm, inside the head


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """One folder per storage order, each holding anatomical.nii as nibabel reorients it."""
    root = tmp_path_factory.mktemp("anat")
    src = nib.load(str(NIBABEL_DATA / "anatomical.nii"))
    out = {}
    for name, codes in ORDERS.items():
        folder = root / name
        folder.mkdir()
        img = src
        if codes is not None:
            img = src.as_reoriented(
                nib.orientations.ornt_transform(nib.io_orientation(src.affine), nib.orientations.axcodes2ornt(codes))
            )
        nib.save(img, str(folder / "anatomical.nii"))
        out[name] = folder
    return out


def _views(folder):
    p = lp.open_patient(folder)
    p.load_all()
    st = ViewerState()
    ijk = p.geometry.world_to_index((-WORLD[0], -WORLD[1], WORLD[2]))
    st.cursor = tuple(int(round(v)) for v in ijk[::-1])
    scene = SceneRenderer(p, st)
    return p, scene, {a: scene.render(a) for a in range(3)}


def test_each_copy_is_stored_as_asked(copies):
    codes = {name: "".join(nib.aff2axcodes(nib.load(str(f / "anatomical.nii")).affine)) for name, f in copies.items()}
    assert codes == {"LAS": "LAS", "LPS": "LPS", "RAS": "RAS", "sagittal": "ASL"}


@pytest.mark.parametrize("name", ["LAS", "RAS", "sagittal"])
def test_every_storage_order_shows_the_lps_pictures_and_letters(copies, name):
    ref_p, ref_scene, ref = _views(copies["LPS"])
    p, scene, got = _views(copies[name])
    assert scene.orient.storage_code() == name if name != "sagittal" else scene.orient.storage_code() == "ASL"
    for axis in range(3):
        np.testing.assert_array_equal(got[axis].rgb, ref[axis].rgb, err_msg=f"{name} view {axis}")
        assert got[axis].aspect == ref[axis].aspect
        assert orientation_labels(axis, p.geometry) == orientation_labels(axis, ref_p.geometry)
        assert scene.view_title(axis) == ref_scene.view_title(axis)
    assert orientation_labels(0, p.geometry) == {"top": "A", "bottom": "P", "left": "R", "right": "L"}
    assert scene.readout().world_mm == pytest.approx(ref_scene.readout().world_mm)


@pytest.mark.parametrize("name", list(ORDERS))
@pytest.mark.slow
def test_screen_edges_are_the_patients_directions_in_world_space(copies, name):
    # independent of the letters: where the screen's edges lie in LPS world mm, from the direction matrix
    p, scene, views = _views(copies[name])

    def world(axis, row, col):
        shown = display_to_voxel(axis, scene.slice_index(axis), row, col, scene.display_shape)
        return p.geometry.index_to_world(scene.orient.to_stored(shown)[::-1])

    for axis in range(3):
        h, w = views[axis].rgb.shape[:2]
        top, bottom = world(axis, 0, w // 2), world(axis, h - 1, w // 2)
        left, right = world(axis, h // 2, 0), world(axis, h // 2, w - 1)
        if axis == 0:
            assert top[1] < bottom[1]  # anterior (low LPS y) up
        else:
            assert top[2] > bottom[2]  # superior up
        if axis == 2:
            assert left[1] < right[1]  # sagittal: anterior on the left
        else:
            assert left[0] < right[0]  # the patient's right (low LPS x) on the screen's left


@pytest.mark.slow
def test_screenshot_of_every_copy_is_the_same_picture(copies, tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=os.pathsep.join(sys.path))
    pics = {}
    for name in ("LAS", "RAS"):
        out = tmp_path / f"{name}.png"
        res = subprocess.run(
            [sys.executable, "-m", "lundprobe_gui", "screenshot", str(copies[name]), str(out), "--size", "900x700"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert res.returncode == 0, res.stderr
        pics[name] = np.asarray(Image.open(out).convert("RGB"))
    # the same window: views, letters, titles and readout (anatomical.nii's sizes are odd, so the centred
    # cursor is the same voxel number in both); only the status bar names the folder
    assert pics["LAS"].shape == pics["RAS"].shape
    np.testing.assert_array_equal(pics["LAS"][:-30], pics["RAS"][:-30])
