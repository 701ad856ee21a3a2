"""DICOM series written with pydicom in every right-handed storage order (and oblique) draw the LPS pictures.

A DICOM series stacks its slices along the normal of ImageOrientationPatient (row x column), so
only the 24 right-handed axis orders exist; each is written with its files in a shuffled order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

import lundprobe_gui as lp
from lundprobe_gui.cli import main
from lundprobe_gui.render.scene import SceneRenderer
from lundprobe_gui.render.slicing import orientation_labels
from lundprobe_gui.render.state import ViewerState

from .phantom import CODES, lps_arrays, lps_image

WORLD_CURSOR = (-3.0, -2.5, 42.0)  # LPS mm


def _right_handed(code: str) -> bool:
    img = sitk.DICOMOrient(lps_image(np.zeros((2, 2, 2), np.int16)), code)
    return np.linalg.det(np.reshape(img.GetDirection(), (3, 3))) > 0


RIGHT_HANDED = [c for c in CODES if _right_handed(c)]


def write_series(img: sitk.Image, folder: Path, seed: int = 0) -> Path:
    """A SimpleITK image as an MR series, one file per slice along its third axis, files in a shuffled order."""
    folder.mkdir(parents=True)
    arr = sitk.GetArrayFromImage(img).astype(np.int16)
    d = np.reshape(img.GetDirection(), (3, 3))
    spacing, origin = img.GetSpacing(), np.asarray(img.GetOrigin())
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    for n, k in enumerate(np.random.default_rng(seed).permutation(arr.shape[0])):
        uid = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = MRImageStorage, uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = MRImageStorage, uid, "MR"
        ds.PatientID, ds.PatientName = "ORIENT", "Orient^Test"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.SeriesNumber, ds.InstanceNumber = 1, n + 1
        ds.ImageOrientationPatient = [float(v) for v in (*d[:, 0], *d[:, 1])]
        ds.ImagePositionPatient = [float(v) for v in origin + int(k) * spacing[2] * d[:, 2]]
        ds.PixelSpacing = [float(spacing[1]), float(spacing[0])]
        ds.SliceThickness = float(spacing[2])
        ds.Rows, ds.Columns = arr.shape[1], arr.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = np.ascontiguousarray(arr[k]).tobytes()
        ds.save_as(folder / f"im{n:03d}.dcm", enforce_file_format=True)
    return folder


def _views(patient):
    st = ViewerState()
    idx = patient.geometry.world_to_index(WORLD_CURSOR)
    st.cursor = tuple(int(round(v)) for v in idx[::-1])
    scene = SceneRenderer(patient, st)
    return scene, {axis: scene.render(axis) for axis in range(3)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = write_series(lps_image(lps_arrays()["image"]), tmp_path_factory.mktemp("dcm") / "LPS")
    patient = lp.open_patient(folder)
    patient.load_all(workers=1)
    scene, views = _views(patient)
    assert scene.orient.is_identity
    return patient, views, scene.readout()


def test_half_of_the_storage_orders_are_right_handed():
    assert len(RIGHT_HANDED) == 24 and "LPS" in RIGHT_HANDED and "RAS" in RIGHT_HANDED and "LAS" not in RIGHT_HANDED


@pytest.mark.parametrize("code", [c for c in RIGHT_HANDED if c != "LPS"])
def test_every_dicom_storage_order_draws_the_lps_pixels_and_letters(code, reference, tmp_path):
    ref_patient, ref_views, ref_read = reference
    image = sitk.DICOMOrient(lps_image(lps_arrays()["image"]), code)
    patient = lp.open_patient(write_series(image, tmp_path / code, seed=len(code) + ord(code[0])))
    assert patient.layout == "dicom" and not patient.problems
    patient.load_all(workers=1)
    # stored as written (the stacking follows the slice normal) and not resampled
    stored = patient.image().data
    np.testing.assert_array_equal(stored, sitk.GetArrayFromImage(image))
    scene, views = _views(patient)
    assert scene.orient.storage_code() == code
    assert np.shares_memory(scene.orient.view(stored), stored)
    for axis in range(3):
        assert views[axis].index == ref_views[axis].index
        np.testing.assert_array_equal(views[axis].rgb, ref_views[axis].rgb, err_msg=f"{code} view {axis}")
        assert orientation_labels(axis, patient.geometry) == orientation_labels(axis, ref_patient.geometry)
    read = scene.readout()
    assert read.world_mm == pytest.approx(ref_read.world_mm) and read.mri == ref_read.mri


def test_an_oblique_dicom_series_is_shown_on_its_nearest_axes_and_says_so(tmp_path, capsys):
    image = lps_image(lps_arrays()["image"])
    t = np.deg2rad(4.0)
    image.SetDirection((np.cos(t), -np.sin(t), 0.0, np.sin(t), np.cos(t), 0.0, 0.0, 0.0, 1.0))
    folder = write_series(image, tmp_path / "oblique")
    patient = lp.open_patient(folder)
    patient.load_all(workers=1)
    scene, _ = _views(patient)
    assert scene.orient.is_identity and scene.orient.obliquity_text() == "oblique 4.0°"
    # world coordinates stay exact: the readout's point is the grid's own voxel centre
    zyx = scene.state.cursor
    assert scene.readout().world_mm == pytest.approx(
        image.TransformIndexToPhysicalPoint(tuple(int(v) for v in zyx[::-1]))
    )
    capsys.readouterr()
    assert main(["info", str(folder)]) == 0
    assert "stored LPS, oblique 4.0°" in capsys.readouterr().out
    assert pydicom.dcmread(next(folder.iterdir())).Modality == "MR"  # the input is left as written


def test_a_series_larger_than_the_available_ram_is_refused_with_a_problem(reference, monkeypatch):
    import lundprobe_gui.core.memory as memory

    folder = Path(reference[0].path)
    p = lp.open_patient(folder)
    monkeypatch.setattr(memory, "available_bytes", lambda: 10_000)  # the phantom series needs 7680 voxels x 6 bytes
    assert p.load_volume(p.image()) is False
    (problem,) = [q for q in p.problems if q.kind == "too-large"]
    assert "MR series (24x20x16) needs" in problem.message and "of RAM available; not loaded" in problem.message
    assert p.image() is None  # left out, the rest of the patient stays usable
    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 30)
    again = lp.open_patient(folder)
    assert again.load_volume(again.image()) is True and again.image().data.shape == (16, 20, 24)
