"""Every bad-input kind becomes a Problem naming the file, while the rest of the patient loads."""

import gzip
import os
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

import lundprobe_gui as lp


def _mri(p):
    return p / "MR_StorT2"


def _kinds(patient, name):
    return [pr.kind for pr in patient.problems if os.path.basename(pr.path) == name]


def _rewrite(path, array, like):
    img = sitk.GetImageFromArray(array)
    img.CopyInformation(sitk.ReadImage(str(like)))
    sitk.WriteImage(img, str(path))


def test_truncated_gzip_is_reported_without_decoding_everything(patient_copy):
    f = _mri(patient_copy) / "mask_Bladder.nii.gz"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    p = lp.open_patient(patient_copy)
    assert _kinds(p, "mask_Bladder.nii.gz") == ["truncated"]
    assert ("Bladder", "clinical") not in p.frames["MRI"].structures
    assert p.mask("CTVT_427").any()  # the rest still loads
    assert p.image().array().shape == (44, 171, 256)


def test_corrupt_file_is_reported(patient_copy):
    f = _mri(patient_copy) / "mask_Rectum.nii.gz"
    f.write_bytes(b"this is not a nifti file at all" * 10)
    p = lp.open_patient(patient_copy)
    assert _kinds(p, "mask_Rectum.nii.gz") == ["corrupt"]
    msg = next(pr.message for pr in p.problems if pr.path.endswith("mask_Rectum.nii.gz"))
    assert msg


def test_geometry_mismatch_is_left_out(patient_copy):
    f = _mri(patient_copy) / "mask_Bladder.nii.gz"
    img = sitk.ReadImage(str(f))
    img.SetOrigin([o + 1.0 for o in img.GetOrigin()])
    sitk.WriteImage(img, str(f))
    p = lp.open_patient(patient_copy)
    assert _kinds(p, "mask_Bladder.nii.gz") == ["geometry-mismatch"]
    assert "origin" in next(pr.message for pr in p.problems if pr.kind == "geometry-mismatch")
    assert ("Bladder", "clinical") not in p.frames["MRI"].structures


def test_non_binary_0_255_is_kept_with_a_note(patient_copy):
    f = _mri(patient_copy) / "mask_Bladder.nii.gz"
    arr = sitk.GetArrayFromImage(sitk.ReadImage(str(f))).astype(np.uint8) * 255
    _rewrite(f, arr, f)
    p = lp.open_patient(patient_copy)
    m = p.mask("Bladder")
    assert np.array_equal(m, arr > 0)
    assert _kinds(p, "mask_Bladder.nii.gz") == ["non-binary"]
    assert "non-zero" in p.problems[-1].message


def test_float_mask_is_kept_with_a_note(patient_copy):
    f = _mri(patient_copy) / "mask_Rectum.nii.gz"
    arr = sitk.GetArrayFromImage(sitk.ReadImage(str(f))).astype(np.float32)
    _rewrite(f, arr, f)
    p = lp.open_patient(patient_copy)
    assert _kinds(p, "mask_Rectum.nii.gz") == ["non-binary"]
    assert np.array_equal(p.mask("Rectum"), arr > 0)


def test_unreadable_file(patient_copy, monkeypatch):
    target = str(_mri(patient_copy) / "mask_Bladder.nii.gz")
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == target else real(p, mode, **kw))
    p = lp.open_patient(patient_copy)
    assert _kinds(p, "mask_Bladder.nii.gz") == ["unreadable"]


def test_multi_member_gzip_is_not_called_truncated(patient_copy):
    f = _mri(patient_copy) / "mask_Bladder.nii.gz"
    raw = gzip.decompress(f.read_bytes())
    half = len(raw) // 2
    f.write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
    p = lp.open_patient(patient_copy)
    assert _kinds(p, "mask_Bladder.nii.gz") == []
    assert p.mask("Bladder").any()


def test_damage_after_the_cheap_check_becomes_a_load_time_problem(patient_copy):
    f = _mri(patient_copy) / "mask_Bladder.nii.gz"
    data = bytearray(f.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = os.urandom(64)  # the trailer still matches; the stream is broken
    f.write_bytes(bytes(data))
    p = lp.open_patient(patient_copy)
    with pytest.raises(ValueError, match=r"mask_Bladder\.nii\.gz could not be loaded: corrupt or truncated"):
        p.mask("Bladder")
    assert "mask_Bladder.nii.gz" in " ".join(pr.path for pr in p.problems)
    p.load_all()
    assert p.mask("Rectum").any()


def test_missing_reference_image_still_opens(patient_copy):
    os.remove(_mri(patient_copy) / "image.nii.gz")
    p = lp.open_patient(patient_copy)
    assert "missing" in _kinds(p, "image.nii.gz")
    assert p.geometry.size_xyz == (256, 171, 44)
    assert p.mask("CTVT_427").any()


def test_empty_folder_raises_no_image_error(tmp_path):
    with pytest.raises(lp.NoImageError, match=r"no usable image|LUND-PROBE"):
        lp.open_patient(tmp_path)
    shutil.rmtree(tmp_path)
    with pytest.raises(lp.NoImageError, match="no such"):
        lp.open_patient(tmp_path)
