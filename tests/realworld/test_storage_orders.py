"""The same anatomy stored in any of the 48 axis orders draws the same pixels and edits the same voxels."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

import lundprobe_gui as lp
from lundprobe_gui.core.orientation import Orientation
from lundprobe_gui.edit.brush import BrushSettings, BrushTool
from lundprobe_gui.edit.session import EditSession
from lundprobe_gui.edit.tool import EditEvent
from lundprobe_gui.render.scene import SceneRenderer
from lundprobe_gui.render.slicing import display_to_voxel, orientation_labels
from lundprobe_gui.render.state import ViewerState

from .phantom import CODES, lps_arrays, write_phantom

KEY = ("Lshape", "clinical")
WORLD_CURSOR = (-3.0, -2.5, 42.0)  # LPS mm, inside the L
SCREEN_POINTS = {0: (7, 15), 1: (4, 9), 2: (6, 6)}  # per view: display (row, col) of a brush stamp


def _open(folder):
    p = lp.open_patient(folder)
    p.load_all(workers=1)
    return p


def _state(patient) -> ViewerState:
    st = ViewerState()
    frame = patient.reference_frame
    st.style((*KEY, frame.name)).visible = True
    st.style((*KEY, frame.name)).mode = "both"
    st.uncertainty.maps = set(frame.uncertainty)
    st.dose.prescription_gy = 40.0
    idx = patient.geometry.world_to_index(WORLD_CURSOR)
    st.cursor = tuple(int(round(v)) for v in idx[::-1])
    return st


def _render(patient):
    scene = SceneRenderer(patient, _state(patient))
    return scene, {axis: scene.render(axis) for axis in range(3)}


def _stamp(patient, scene) -> np.ndarray:
    """Brush stamps at the same screen points of the three views; the edited mask, stored order."""
    session = EditSession(patient.geometry.spacing_zyx)
    session.start_editing(KEY[0], patient.mask_obj(*KEY), "edit")
    session.set_tool(BrushTool(BrushSettings(radius_mm=2.0, mode="add")))
    for axis, (row, col) in SCREEN_POINTS.items():
        index = scene.slice_index(axis)
        zyx = scene.orient.to_stored(display_to_voxel(axis, index, row, col, scene.display_shape))
        normal = scene.stored_axis(axis)
        for kind in ("press", "release"):
            session.handle(EditEvent(kind, normal, int(round(zyx[normal])), zyx))
    return session.working(("Lshape", "edit")).to_full()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = write_phantom(tmp_path_factory.mktemp("lps") / "LPS", "LPS")
    patient = _open(folder)
    scene, views = _render(patient)
    assert scene.orient.is_identity
    return patient, views, _stamp(patient, scene)


def _to_lps(stored: np.ndarray, geometry) -> np.ndarray:
    """A stored (z, y, x) array of ``geometry`` reoriented to LPS storage."""
    return Orientation.from_geometry(geometry).view(stored)


@pytest.mark.parametrize("code", CODES)
@pytest.mark.slow
def test_every_storage_order_draws_the_lps_pixels_and_edits_the_same_voxels(code, reference, tmp_path):
    ref_patient, ref_views, ref_edit = reference
    patient = _open(write_phantom(tmp_path / code, code))
    assert not patient.problems
    scene, views = _render(patient)
    assert scene.orient.storage_code() == code
    assert scene.orient.obliquity_deg == pytest.approx(0.0, abs=1e-6)
    # no resampling: the display array is a view of the stored voxels
    image = patient.image().data
    assert np.shares_memory(scene.orient.view(image), image)
    for axis in range(3):
        assert views[axis].index == ref_views[axis].index
        assert views[axis].aspect == ref_views[axis].aspect
        np.testing.assert_array_equal(views[axis].rgb, ref_views[axis].rgb, err_msg=f"{code} view {axis}")
        assert orientation_labels(axis, patient.geometry) == orientation_labels(axis, ref_patient.geometry)
    # the readout names the same world point and the same values under the cursor
    ref_read = SceneRenderer(ref_patient, _state(ref_patient)).readout()
    read = scene.readout()
    assert read.world_mm == pytest.approx(ref_read.world_mm)
    assert (read.mri, read.dose_gy, read.structures) == (ref_read.mri, ref_read.dose_gy, ref_read.structures)
    # a brush stamp at the same screen point changes the same world voxels
    edited = _stamp(patient, scene)
    assert edited.shape == patient.geometry.shape_zyx
    np.testing.assert_array_equal(_to_lps(edited, patient.geometry), ref_edit)
    assert ref_edit.sum() > lps_arrays()["mask_Lshape"].sum()


@pytest.mark.parametrize("code", ["RAS", "LAS", "PIR", "SRA"])
def test_a_mask_edited_in_any_storage_saves_in_that_storage(code, reference, tmp_path):
    _, _, ref_edit = reference
    folder = write_phantom(tmp_path / code, code)
    patient = _open(folder)
    scene = SceneRenderer(patient, _state(patient))
    edited = _stamp(patient, scene)
    out = patient.save_mask("Lshape", edited, source="edit", out_dir=tmp_path / "out")
    saved = nib.load(str(out))
    original = nib.load(str(folder / "image.nii.gz"))
    # same geometry and storage order as the image it was drawn on, uint8 0/1
    np.testing.assert_allclose(saved.affine, original.affine, atol=1e-5)
    assert saved.shape == original.shape and saved.get_data_dtype() == np.uint8
    assert nib.aff2axcodes(saved.affine) == nib.aff2axcodes(original.affine)
    np.testing.assert_array_equal(np.asarray(saved.dataobj).transpose(2, 1, 0), edited.astype(np.uint8))
    # and it holds the same anatomy as the edit made on the LPS copy
    back = sitk.GetArrayFromImage(sitk.DICOMOrient(sitk.ReadImage(str(out)), "LPS"))
    np.testing.assert_array_equal(back.astype(bool), ref_edit)
