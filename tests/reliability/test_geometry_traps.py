"""2. Geometry traps: a mask one voxel, 1e-3 mm or one flip away from its image is reported, never
shown misaligned; a saved mask has its reference image's geometry bit for bit (SimpleITK and nibabel).
"""

from __future__ import annotations

import math
import shutil
import struct

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lundprobe_gui as lp
from lundprobe_gui.core.geometry import Geometry
from lundprobe_gui.demo import DemoOptions, generate
from lundprobe_gui.io.probe import probe

from .helpers import TINY, block_mask, tiny_generic, tiny_patient

# (what, how the mask's grid differs from the image's)
TRAPS = {
    "x size +1": lambda g: Geometry((g.size_xyz[0] + 1, *g.size_xyz[1:]), g.spacing, g.origin, g.direction),
    "y size -1": lambda g: Geometry(
        (g.size_xyz[0], g.size_xyz[1] - 1, g.size_xyz[2]), g.spacing, g.origin, g.direction
    ),
    "z size +1": lambda g: Geometry((*g.size_xyz[:2], g.size_xyz[2] + 1), g.spacing, g.origin, g.direction),
    "origin x +1e-3 mm": lambda g: Geometry(g.size_xyz, g.spacing, (g.origin[0] + 1e-3, *g.origin[1:]), g.direction),
    "origin z -1e-3 mm": lambda g: Geometry(g.size_xyz, g.spacing, (*g.origin[:2], g.origin[2] - 1e-3), g.direction),
    "x axis flipped": lambda g: Geometry(g.size_xyz, g.spacing, g.origin, _flip(g.direction, 0)),
    "z axis flipped": lambda g: Geometry(g.size_xyz, g.spacing, g.origin, _flip(g.direction, 2)),
    "x spacing +0.1 %": lambda g: Geometry(g.size_xyz, (g.spacing[0] * 1.001, *g.spacing[1:]), g.origin, g.direction),
}
MASK_FILES = {
    "clinical": "MR_StorT2/mask_Bladder.nii.gz",
    "nnUNet": "MR_StorT2/nnUNetOutput/mask_CTVT_427_nnUNet.nii.gz",
    "observer": "MR_StorT2/observerData/mask_CTVT_427_step1_obsB.nii.gz",
}
# header fields that carry the geometry: (offset, struct format)
GEOMETRY_FIELDS = {
    "pixdim": (76, "8f"),
    "qform_code": (252, "h"),
    "sform_code": (254, "h"),
    "quatern_b/c/d": (256, "3f"),
    "qoffset_x/y/z": (268, "3f"),
    "srow_x": (280, "4f"),
    "srow_y": (296, "4f"),
    "srow_z": (312, "4f"),
}


def _flip(direction, axis):
    m = np.asarray(direction, float).reshape(3, 3).copy()
    m[:, axis] *= -1
    return tuple(m.ravel())


def _write_sitk(path, array, geometry: Geometry):
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(geometry.spacing)
    img.SetOrigin(geometry.origin)
    img.SetDirection(geometry.direction)
    sitk.WriteImage(img, str(path))


def _trap_mask(geometry: Geometry) -> np.ndarray:
    m = np.zeros(geometry.shape_zyx, np.uint8)
    m[1:3, 2:5, 2:5] = 1
    return m


@pytest.fixture(scope="module")
def direction_root(tmp_path_factory):
    """A small synthetic patient whose MRI has a non-identity direction (axes permuted and flipped)."""
    root = tmp_path_factory.mktemp("dir-ds") / "ds"
    generate(
        root,
        DemoOptions(
            patients=1, part="base", size="small", seed=3, direction=(0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)
        ),
    )
    return root


@pytest.mark.parametrize("trap", sorted(TRAPS))
@pytest.mark.parametrize("where", sorted(MASK_FILES))
@pytest.mark.slow
def test_a_mask_off_by_a_trap_is_reported_not_shown(tiny_root, tmp_path, trap, where, figures):
    shutil.copytree(tiny_root, tmp_path / "ds")
    patient = tmp_path / "ds" / "LUNDPROBE_0001"
    target = patient / MASK_FILES[where]
    geom = TRAPS[trap](TINY)
    _write_sitk(target, _trap_mask(geom), geom)
    p = lp.open_patient(patient)
    found = [pr for pr in p.problems if pr.path == str(target)]
    assert [pr.kind for pr in found] == ["geometry-mismatch"], found
    assert not [r for r in p.structures() if r.path == str(target)]  # never shown
    for r in p.structures():  # and everything that is shown is on the image's grid
        assert not probe(r.path).geometry.differences(p.geometry), r
    figures["reported"] = True


@pytest.mark.parametrize("trap", sorted(TRAPS))
@pytest.mark.slow
def test_a_trap_in_a_plain_folder_is_reported_not_shown(tmp_path, trap):
    folder = tiny_generic(tmp_path / "case")
    geom = TRAPS[trap](TINY)
    _write_sitk(folder / "Rectum.nii.gz", _trap_mask(geom), geom)
    p = lp.open_patient(folder)
    assert [pr.kind for pr in p.problems if pr.path.endswith("Rectum.nii.gz")] == ["geometry-mismatch"]
    assert "Rectum" not in {r.name for r in p.structures()}
    assert "Bladder" in {r.name for r in p.structures()}


@pytest.mark.parametrize("trap", ["x size +1", "origin x +1e-3 mm", "z axis flipped"])
@pytest.mark.slow
def test_a_trap_on_a_rotated_patient_is_reported(direction_root, tmp_path, trap):
    shutil.copytree(direction_root, tmp_path / "ds")
    patient = next((tmp_path / "ds").glob("LUNDPROBE_*"))
    ref = lp.open_patient(patient)
    target = patient / "MR_StorT2" / "mask_Rectum.nii.gz"
    geom = TRAPS[trap](ref.geometry)
    _write_sitk(target, np.zeros(geom.shape_zyx, np.uint8), geom)
    p = lp.open_patient(patient)
    assert [pr.kind for pr in p.problems if pr.path == str(target)] == ["geometry-mismatch"]
    assert ("Rectum", "clinical") not in p.frames["MRI"].structures


def _fields(raw: bytes) -> dict:
    return {k: struct.unpack_from("<" + fmt, raw, off) for k, (off, fmt) in GEOMETRY_FIELDS.items()}


def assert_same_geometry(saved, reference) -> None:
    """The saved file's geometry equals the reference's bit for bit (header bytes, nibabel, SimpleITK)."""
    a = nib.load(str(saved))
    b = nib.load(str(reference))
    raw_a, raw_b = a.header.binaryblock, b.header.binaryblock
    fa, fb = _fields(raw_a), _fields(raw_b)
    for k in GEOMETRY_FIELDS:
        if k == "pixdim":  # pixdim[4:] (time step...) may differ for a 3-D file; pixdim[0:4] may not
            assert fa[k][:4] == fb[k][:4] or all(
                (math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(fa[k][:4], fb[k][:4])
            ), k
        else:
            assert fa[k] == fb[k], f"{k}: {fa[k]} != {fb[k]}"
    assert np.array_equal(a.affine, b.affine)
    qa, qca = a.header.get_qform(coded=True)
    qb, qcb = b.header.get_qform(coded=True)
    sa, sca = a.header.get_sform(coded=True)
    sb, scb = b.header.get_sform(coded=True)
    assert int(qca) == int(qcb) and int(sca) == int(scb)
    assert (qa is None and qb is None) or np.array_equal(qa, qb)
    assert (sa is None and sb is None) or np.array_equal(sa, sb)
    assert np.array_equal(a.header["pixdim"][1:4], b.header["pixdim"][1:4])
    assert a.header.get_xyzt_units() == b.header.get_xyzt_units()
    sa_img, sb_img = sitk.ReadImage(str(saved)), sitk.ReadImage(str(reference))
    assert sa_img.GetSize() == sb_img.GetSize()
    assert sa_img.GetOrigin() == sb_img.GetOrigin()
    assert sa_img.GetSpacing() == sb_img.GetSpacing()
    assert sa_img.GetDirection() == sb_img.GetDirection()
    assert a.get_data_dtype() == np.uint8
    assert set(np.unique(np.asarray(a.dataobj))) <= {0, 1}


@pytest.mark.parametrize("frame", ["MRI", "sCT"])
@pytest.mark.slow
def test_saved_mask_matches_a_rotated_reference_bit_for_bit(direction_root, tmp_path, frame):
    p = lp.open_patient(next(direction_root.glob("LUNDPROBE_*")))
    assert p.frames["MRI"].geometry.direction != (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    m = p.mask("CTVT_427", frame=frame)
    m[m.shape[0] // 2, :5, :5] = True
    out = tmp_path / "edits"
    saved = p.save_mask("CTVT_427", m, source="step1_obsR", out_dir=out, frame=frame)
    folder = "MR_StorT2" if frame == "MRI" else "sCT"
    assert_same_geometry(saved, p.path / folder / "image.nii.gz")
    assert_same_geometry(saved.with_name("mask_CTVT_427_step1_obsR.nii.gz"), p.path / folder / "image.nii.gz")
    back = np.asarray(nib.load(str(saved)).dataobj).transpose(2, 1, 0).astype(bool)
    assert np.array_equal(back, m)


def _rotation(angles, flip):
    a, b, c = angles
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    m = rz @ ry @ rx
    if flip is not None:
        m[:, flip] *= -1
    return tuple(float(v) for v in m.ravel())


GEOMETRIES = st.builds(
    lambda size, spacing, origin, angles, flip: Geometry(size, spacing, origin, _rotation(angles, flip)),
    st.tuples(st.integers(4, 10), st.integers(4, 10), st.integers(3, 6)),
    st.tuples(*[st.floats(0.2, 5.0).map(lambda v: round(v, 4))] * 3),
    st.tuples(*[st.floats(-400.0, 400.0)] * 3),
    st.tuples(*[st.sampled_from([0.0, math.pi / 2, math.pi]) | st.floats(-math.pi, math.pi)] * 3),
    st.none() | st.integers(0, 2),
)
WRITERS = st.sampled_from(
    ["SimpleITK", "nibabel sform+qform", "nibabel sform only", "nibabel qform only", "nibabel scanner sform"]
)


def _write_reference(path, array, geometry: Geometry, writer: str) -> None:
    if writer == "SimpleITK":
        _write_sitk(path, array, geometry)
        return
    # nibabel: RAS affine from the LPS geometry
    d = np.asarray(geometry.direction).reshape(3, 3) * np.asarray(geometry.spacing)
    aff = np.eye(4)
    aff[:3, :3] = d
    aff[:3, 3] = geometry.origin
    aff = np.diag([-1, -1, 1, 1]) @ aff
    img = nib.Nifti1Image(array.transpose(2, 1, 0), None)
    if writer in ("nibabel sform+qform", "nibabel sform only", "nibabel scanner sform"):
        img.header.set_sform(aff, code=1 if writer != "nibabel scanner sform" else 2)
    if writer in ("nibabel sform+qform", "nibabel qform only", "nibabel scanner sform"):
        img.header.set_qform(aff, code=1)
    if writer == "nibabel sform only":
        img.header.set_qform(None, code=0)
    if writer == "nibabel qform only":
        img.header.set_sform(None, code=0)
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, str(path))


_saved_count = []


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(geometry=GEOMETRIES, writer=WRITERS)
def _saved_geometry_property(work, geometry, writer):
    n = len(_saved_count)
    _saved_count.append(writer)
    root = work / f"g{n:03d}"
    pat = tiny_patient(root, TINY)  # layout and names; the image and one mask are replaced below
    mri = pat / "MR_StorT2"
    img = (np.arange(int(np.prod(geometry.shape_zyx))).reshape(geometry.shape_zyx) % 300).astype(np.int16)
    _write_reference(mri / "image.nii.gz", img, geometry, writer)
    for f in list(mri.rglob("*.nii.gz")):
        if f.name != "image.nii.gz":
            f.unlink()
    _write_reference(
        mri / "nnUNetOutput" / "mask_CTVT_427_nnUNet.nii.gz",
        block_mask(geometry, (0, 0, 0), (2, 2, 2)),
        geometry,
        writer,
    )
    p = lp.open_patient(pat)
    assert ("CTVT_427", "nnUNet") in p.frames["MRI"].structures, p.problems
    m = p.mask("CTVT_427", source="nnUNet")
    m[-1, -1, -1] = True
    saved = p.save_mask("CTVT_427", m, source="step1_obsG", out_dir=root / "out")
    assert_same_geometry(saved, mri / "image.nii.gz")
    # the saved file opens as part of the patient: the same grid, not a geometry-mismatch
    shutil.copy(saved, mri / "observerData" / "mask_CTVT_427_step1_obsG.nii.gz")
    again = lp.open_patient(pat)
    assert ("CTVT_427", "step1_obsG") in again.frames["MRI"].structures, again.problems
    assert np.array_equal(again.mask("CTVT_427", source="step1_obsG"), m)
    shutil.rmtree(root)


@pytest.mark.slow
def test_saved_masks_match_random_references_bit_for_bit(tmp_path, figures):
    _saved_count.clear()
    _saved_geometry_property(tmp_path)
    figures["geometries_saved"] = len(_saved_count)
    figures["writers"] = sorted(set(_saved_count))


@pytest.mark.slow
def test_saved_mask_without_a_reference_image_still_opens_on_the_frame_grid(direction_root, tmp_path):
    shutil.copytree(direction_root, tmp_path / "ds")
    patient = next((tmp_path / "ds").glob("LUNDPROBE_*"))
    (patient / "MR_StorT2" / "image.nii.gz").unlink()  # the header must then be built from the geometry
    p = lp.open_patient(patient)
    m = p.mask("Rectum")
    saved = p.save_mask("Rectum", m, source="step1_obsN", out_dir=tmp_path / "out")
    (patient / "MR_StorT2" / "observerData").mkdir(exist_ok=True)
    shutil.copy(saved, patient / "MR_StorT2" / "observerData" / saved.name.replace("_v001", ""))
    again = lp.open_patient(patient)
    assert ("Rectum", "step1_obsN") in again.frames["MRI"].structures
    assert not [pr for pr in again.problems if pr.kind == "geometry-mismatch"]
    assert np.array_equal(again.mask("Rectum", source="step1_obsN"), m)
