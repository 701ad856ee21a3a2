import hashlib
import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

import lundprobe_gui as lp
from lundprobe_gui.core.names import InvalidName


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def test_versions_sidecar_and_plain_copy(patient_copy, tmp_path):
    before = _hashes(patient_copy)
    p = lp.open_patient(patient_copy)
    m = p.mask("CTVT_427", source="nnUNet")
    m[20, 80:90, 120:130] = True
    out = tmp_path / "edits"
    f1 = p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=out, tool="brush", stats={"voxels_added": 3})
    v1 = f1.read_bytes()
    m[2, 0:5, 0:5] = True  # a real change: an unchanged save writes no version
    f2 = p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=out)
    assert f1.name == "mask_CTVT_427_step1_obsF_v001.nii.gz" and f2.name == "mask_CTVT_427_step1_obsF_v002.nii.gz"
    assert f1.parent == out / p.id / "MR_StorT2" / "observerData"
    assert f1.read_bytes() == v1  # the first version is never touched again
    plain = f1.parent / "mask_CTVT_427_step1_obsF.nii.gz"
    assert plain.read_bytes() == f2.read_bytes()
    side = json.loads((f1.parent / "mask_CTVT_427_step1_obsF_v002.json").read_text())
    assert side["parent"] == f1.name and side["version"] == 2 and side["app_version"] == lp.__version__
    assert side["voxel_sha256"] == hashlib.sha256(m.astype(np.uint8).tobytes()).hexdigest()
    side1 = json.loads((f1.parent / "mask_CTVT_427_step1_obsF_v001.json").read_text())
    assert side1["tool"] == "brush" and side1["stats"] == {"voxels_added": 3} and side1["parent"] is None
    assert _hashes(patient_copy) == before  # inputs untouched
    assert not [x for x in f1.parent.iterdir() if x.name.endswith(".part")]


@pytest.mark.slow
def test_saved_file_matches_reference_geometry_bit_for_bit(patient_copy, tmp_path):
    p = lp.open_patient(patient_copy)
    m = p.mask("Rectum", source="nnUNet")
    f = p.save_mask("Rectum", m, source="step2_obsQ", out_dir=tmp_path)
    ref = patient_copy / "MR_StorT2" / "image.nii.gz"
    a, b = nib.load(str(f)), nib.load(str(ref))
    assert np.array_equal(a.affine, b.affine)
    assert a.get_data_dtype() == np.uint8
    data = np.asarray(a.dataobj)
    assert set(np.unique(data)) <= {0, 1}
    assert np.array_equal(data.transpose(2, 1, 0).astype(bool), m)
    s, r = sitk.ReadImage(str(f)), sitk.ReadImage(str(ref))
    assert s.GetOrigin() == r.GetOrigin() and s.GetSpacing() == r.GetSpacing() and s.GetDirection() == r.GetDirection()
    assert np.array_equal(sitk.GetArrayFromImage(s).astype(bool), m)


def test_saved_edit_is_visible_in_the_patient(patient_copy, tmp_path):
    p = lp.open_patient(patient_copy)
    m = p.mask("CTVT_427")
    p.save_mask("CTVT_427", m, source="step1_obsZ", out_dir=tmp_path)
    assert np.array_equal(p.mask("CTVT_427", source="step1_obsZ"), m)


@pytest.mark.parametrize("bad", ["../evil", "/abs", "a/b", "x\x00y", "CON", "a" * 200, "", ".."])
@pytest.mark.slow
def test_unsafe_names_are_refused(patient_copy, tmp_path, bad):
    p = lp.open_patient(patient_copy)
    m = p.mask("CTVT_427")
    out = tmp_path / "out"
    with pytest.raises(InvalidName):
        p.save_mask("CTVT_427", m, source=bad, out_dir=out)
    with pytest.raises(InvalidName):
        p.save_mask(bad, m, source="step1_obsF", out_dir=out)
    assert not list(tmp_path.rglob("*_v001*"))


def test_symlink_in_output_tree_is_not_followed(patient_copy, tmp_path):
    p = lp.open_patient(patient_copy)
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(outside, out / p.id)
    with pytest.raises(PermissionError):
        p.save_mask("CTVT_427", p.mask("CTVT_427"), source="step1_obsF", out_dir=out)
    assert not list(outside.rglob("*"))


def test_wrong_shape_is_refused(patient_copy, tmp_path):
    p = lp.open_patient(patient_copy)
    with pytest.raises(ValueError, match="does not match"):
        p.save_mask("CTVT_427", np.zeros((3, 3, 3), bool), source="step1_obsF", out_dir=tmp_path)


def test_a_save_removes_what_killed_saves_left_but_not_a_running_save(patient_copy, tmp_path):
    import os
    import time

    p = lp.open_patient(patient_copy)
    out = tmp_path / "out"
    first = p.save_mask("CTVT_427", p.mask("CTVT_427"), source="step1_obsZ", out_dir=out)
    folder = first.parent
    old = folder / ".mask_CTVT_427_step1_obsZ_v002.nii.gz.abc123.part"
    fresh = folder / ".mask_Rectum_step1_obsZ_v001.nii.gz.def456.part"
    mine = folder / ".keep.txt"  # not a temporary of a save
    for f in (old, fresh, mine):
        f.write_bytes(b"partial")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    os.utime(mine, (hour_ago, hour_ago))
    changed = p.mask("CTVT_427")
    changed[2, 0:5, 0:5] = True  # an unchanged save writes (and sweeps) nothing
    p.save_mask("CTVT_427", changed, source="step1_obsZ", out_dir=out)
    assert not old.exists()
    assert fresh.exists() and mine.exists()
    assert (folder / "mask_CTVT_427_step1_obsZ_v002.nii.gz").exists()


@pytest.mark.parametrize("endian", ["<", ">"])
def test_a_volume_larger_than_one_compression_chunk_reads_back_in_nibabel(tmp_path, endian):
    # the writer compresses the voxels in 1 MiB pieces; a volume of several pieces with a ragged end,
    # in either byte order, reads back voxel for voxel in nibabel (a reader the app did not write)
    from lundprobe_gui.io.writer import encode_nifti

    rng = np.random.default_rng(3)
    data = rng.integers(-2000, 3000, (7, 301, 299), dtype=np.int16)  # 1.26 MB
    h = nib.Nifti1Header(endianness=endian)
    h.set_data_shape((299, 301, 7))
    path = tmp_path / "big.nii.gz"
    path.write_bytes(encode_nifti(data, h.binaryblock))
    img = nib.load(path)
    assert img.header.endianness == endian and img.shape == (299, 301, 7)
    assert np.array_equal(np.asarray(img.dataobj).transpose(2, 1, 0), data)
