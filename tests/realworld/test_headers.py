"""Headers that lie, files that are not what their names say, and NIfTI-2: each gets its Problem."""

from __future__ import annotations

import gzip
import shutil
import struct

import nibabel as nib
import numpy as np
import pytest

import lundprobe_gui as lp
from lundprobe_gui.io.open import NoImageError
from lundprobe_gui.io.probe import Probe, probe
from lundprobe_gui.render.scene import SceneRenderer
from lundprobe_gui.render.state import ViewerState

from .nibabel_data import NIBABEL_DATA

AFFINE = np.array([[-0.8, 0, 0, 12.0], [0, 0.8, 0, -20.0], [0, 0, 2.5, -30.0], [0, 0, 0, 1]])


def _image_file(path, affine=AFFINE, shape=(24, 20, 12)):
    """A continuous int16 image with qform and sform both set to ``affine``; returns its bytes."""
    rng = np.random.default_rng(5)
    img = nib.Nifti1Image(rng.integers(0, 900, shape).astype(np.int16), affine)
    img.set_qform(affine, 1)
    img.set_sform(affine, 1)
    nib.save(img, str(path))
    return path


def _patched(path, *edits):
    """Overwrite header fields of an uncompressed NIfTI-1 file in place: (offset, struct format, values)."""
    raw = bytearray(path.read_bytes())
    for off, fmt, vals in edits:
        struct.pack_into("<" + fmt, raw, off, *vals)
    path.write_bytes(bytes(raw))
    return path


PIXDIM = 76  # float[8]; [1..3] are the voxel sizes
SFORM_CODE = 254
SROW_X = 280


@pytest.mark.parametrize("value", [0.0, float("nan"), float("inf")])
@pytest.mark.slow
def test_a_lying_voxel_size_is_taken_from_the_sform_and_reported(tmp_path, value):
    path = _patched(_image_file(tmp_path / "image.nii"), (PIXDIM + 12, "f", (value,)))
    p = lp.open_patient(tmp_path)
    assert p.geometry.spacing == pytest.approx((0.8, 0.8, 2.5))  # not SimpleITK's silent 1 mm
    (problem,) = p.problems
    assert problem.kind == "suspicious-header" and problem.path == str(path)
    assert f"pixdim[3] (the z voxel size) is {value:g}" in problem.message and "2.5 mm" in problem.message


def test_a_lying_voxel_size_without_a_sform_is_invalid_geometry(tmp_path):
    _patched(_image_file(tmp_path / "image.nii"), (PIXDIM + 4, "f", (0.0,)), (SFORM_CODE, "h", (0,)))
    pr = probe(tmp_path / "image.nii")
    assert not isinstance(pr, Probe) and pr.kind == "invalid-geometry"
    assert "pixdim[1] (the x voxel size) is 0" in pr.message
    with pytest.raises(NoImageError, match="pixdim"):
        lp.open_patient(tmp_path)


def test_qform_and_sform_that_disagree_say_which_one_is_used(tmp_path):
    _patched(_image_file(tmp_path / "image.nii"), (SROW_X + 12, "f", (17.0,)))  # the sform moves 5 mm
    p = lp.open_patient(tmp_path)
    (problem,) = p.problems
    assert problem.kind == "suspicious-header"
    assert "disagree by up to 5.0 mm" in problem.message and "the sform is used" in problem.message
    assert p.geometry.origin[0] == pytest.approx(-17.0)  # LPS x of the sform's RAS 17 mm, as nibabel reads it
    np.testing.assert_allclose(nib.load(str(tmp_path / "image.nii")).affine[0, 3], 17.0)


def test_qform_and_sform_within_a_rounding_agree_quietly(tmp_path):
    _patched(_image_file(tmp_path / "image.nii"), (SROW_X + 12, "f", (12.0004,)))
    assert not lp.open_patient(tmp_path).problems


def test_a_datatype_that_disagrees_with_bitpix_is_corrupt_not_truncated(tmp_path):
    _patched(_image_file(tmp_path / "image.nii"), (72, "h", (8,)))
    pr = probe(tmp_path / "image.nii")
    assert pr.kind == "corrupt" and "bitpix 8" in pr.message and "truncat" not in pr.message


def test_gzip_data_named_nii_and_plain_data_named_nii_gz_are_named_as_such(tmp_path):
    raw = _image_file(tmp_path / "src.nii").read_bytes()
    (tmp_path / "gz.nii").write_bytes(gzip.compress(raw))
    (tmp_path / "plain.nii.gz").write_bytes(raw)
    a, b = probe(tmp_path / "gz.nii"), probe(tmp_path / "plain.nii.gz")
    assert a.kind == "mislabelled" and "gzip-compressed data in a file named .nii" in a.message
    assert b.kind == "mislabelled" and "not gzip-compressed" in b.message
    p = lp.open_patient(tmp_path)  # the good file still opens; the two others are reported
    assert {pr.kind for pr in p.problems} == {"mislabelled"} and len(p.problems) == 2


def test_nifti2_opens_like_nibabel_reads_it(tmp_path):
    src = nib.load(str(NIBABEL_DATA / "example_nifti2.nii.gz"))  # 4-D, oblique
    data = np.asarray(src.dataobj)[..., 1]
    img = nib.Nifti2Image(data, src.affine)
    nib.save(img, str(tmp_path / "image.nii.gz"))
    p = lp.open_patient(tmp_path)
    assert not p.problems
    p.load_all()
    np.testing.assert_array_equal(p.image().data, data.transpose(2, 1, 0))
    corners = np.array([[0, 0, 0], [31, 19, 11]], float)
    ras = nib.affines.apply_affine(src.affine, corners)
    np.testing.assert_allclose(p.geometry.index_to_world(corners), ras * [-1, -1, 1], atol=1e-4)
    scene = SceneRenderer(p, ViewerState())
    assert scene.orient.is_oblique and scene.view_title(0) == f"Axial ({scene.orient.obliquity_text()})"


def test_a_truncated_nifti2_gzip_is_truncated(tmp_path):
    src = nib.load(str(NIBABEL_DATA / "example_nifti2.nii.gz"))
    nib.save(nib.Nifti2Image(np.asarray(src.dataobj)[..., 0], src.affine), str(tmp_path / "a.nii.gz"))
    shutil.copy(tmp_path / "a.nii.gz", tmp_path / "b.nii.gz")
    raw = (tmp_path / "b.nii.gz").read_bytes()
    (tmp_path / "b.nii.gz").write_bytes(raw[: len(raw) // 2])
    pr = probe(tmp_path / "b.nii.gz")
    assert pr.kind == "truncated"
    assert [q.kind for q in lp.open_patient(tmp_path).problems] == ["truncated"]


@pytest.mark.parametrize(
    "name, reason",
    [
        ("example4d.nii.gz", "4-D image (2 volumes of 128x96x24): not shown"),
        ("functional.nii", "4-D image (20 volumes of 17x21x3): not shown"),
        ("example_nifti2.nii.gz", "4-D image (2 volumes of 32x20x12): not shown"),
        ("standard.nii.gz", "standard.nii.gz: a binary mask"),
        ("analyze.hdr", "an Analyze 7.5 .hdr/.img pair; not supported"),
        ("nifti1.hdr", "a NIfTI-1 .hdr/.img pair; not supported"),
        ("nifti2.hdr", "a NIfTI-2 .hdr/.img pair; not supported"),
    ],
)
@pytest.mark.slow
def test_a_folder_without_a_showable_image_says_exactly_why(tmp_path, name, reason):
    shutil.copy(NIBABEL_DATA / name, tmp_path / name)
    with pytest.raises(NoImageError) as e:
        lp.open_patient(tmp_path)
    assert reason in str(e.value)


def test_a_4d_file_next_to_an_image_is_a_problem_with_its_volume_count(tmp_path):
    shutil.copy(NIBABEL_DATA / "anatomical.nii", tmp_path)
    shutil.copy(NIBABEL_DATA / "functional.nii", tmp_path)
    shutil.copy(NIBABEL_DATA / "analyze.hdr", tmp_path)
    p = lp.open_patient(tmp_path)
    got = {q.path.rsplit("/", 1)[1]: (q.kind, q.message) for q in p.problems}
    assert got["functional.nii"] == ("unsupported", "4-D image (20 volumes of 17x21x3): not shown")
    assert got["analyze.hdr"][0] == "unsupported" and "Analyze" in got["analyze.hdr"][1]


@pytest.mark.slow
def test_a_mask_drawn_on_a_nifti2_image_saves_on_its_grid_and_reopens(tmp_path):
    src = nib.load(str(NIBABEL_DATA / "example_nifti2.nii.gz"))
    case = tmp_path / "case"
    case.mkdir()
    nib.save(nib.Nifti2Image(np.asarray(src.dataobj)[..., 0], src.affine), str(case / "image.nii.gz"))
    p = lp.open_patient(case)
    mask = np.zeros(p.geometry.shape_zyx, bool)
    mask[4:7, 5:9, 10:14] = True
    out = p.save_mask("Box", mask, source="edit", out_dir=tmp_path / "out")
    saved = nib.load(str(out))
    assert saved.get_data_dtype() == np.uint8 and saved.shape == src.shape[:3]
    np.testing.assert_allclose(saved.affine, src.affine, atol=1e-4)  # a NIfTI-1 mask on the NIfTI-2 grid
    shutil.copy(out, case / "mask_Box.nii.gz")
    again = lp.open_patient(case)
    assert not again.problems and np.array_equal(again.mask("Box"), mask)


def test_the_window_says_in_one_line_why_a_folder_of_nibabels_4d_file_does_not_open(
    tmp_path, qtbot, caplog, monkeypatch
):
    from PySide6 import QtWidgets

    from lundprobe_gui.app import make_application
    from lundprobe_gui.ui.main_window import MainWindow

    shutil.copy(NIBABEL_DATA / "example4d.nii.gz", tmp_path / "example4d.nii.gz")
    shown: list[str] = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", lambda parent, title, text: shown.append(text))
    make_application()
    win = MainWindow()
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.loader.failed, timeout=30000):
        win.open_path(tmp_path)
    assert shown and "example4d.nii.gz: 4-D image (2 volumes of 128x96x24): not shown" in shown[0]
    assert "4-D image" in win.statusBar().currentMessage()
    logged = [r for r in caplog.records if r.name.startswith("lundprobe_gui.ui")]
    assert logged and all("Traceback" not in r.getMessage() and r.levelname == "WARNING" for r in logged)
    win.loader.cancel()
