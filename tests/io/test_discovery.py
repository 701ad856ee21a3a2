import json
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

import lundprobe_gui as lp
from lundprobe_gui.demo import DemoOptions, generate


def test_discovers_every_lundprobe_layer(demo_patient_path):
    p = lp.open_patient(demo_patient_path)
    assert p.layout == "lundprobe" and set(p.frames) == {"MRI", "sCT"}
    assert p.problems == []
    refs = p.structures()
    sources = {r.source for r in refs}
    assert {"clinical", "nnUNet", "step1_obsB", "step2_obsE"} <= sources
    assert {f"nnUNet_fold_{n}" for n in range(10)} <= sources
    mri = p.structures(frame="MRI")
    assert len([r for r in mri if r.source.startswith("nnUNet_fold_")]) == 20
    assert len([r for r in mri if r.source.startswith("step")]) == 16
    assert set(p.frames["MRI"].uncertainty) == {"CTVT_427", "Rectum"}
    assert set(p.frames["MRI"].images) == {"image", "sCT"}
    assert set(p.frames["sCT"].doses) == {"dose_original", "dose_interpolated"}
    assert p.geometry.size_xyz == (256, 171, 44)
    # the sCT frame has its own grid
    assert p.frames["sCT"].geometry.differences(p.geometry)


def test_discovery_reads_headers_only(demo_patient_path):
    p = lp.open_patient(demo_patient_path)
    assert p.memory_bytes() == 0
    assert not any(v.loaded for f in p.frames.values() for v in f.volumes())
    m = p.mask("CTVT_427", source="nnUNet")
    assert m.dtype == bool and m.shape == (44, 171, 256) and m.any()


def test_geometry_matches_simpleitk(demo_patient_path):
    p = lp.open_patient(demo_patient_path)
    img = sitk.ReadImage(str(demo_patient_path / "MR_StorT2" / "image.nii.gz"))
    assert p.geometry.size_xyz == img.GetSize()
    assert np.allclose(p.geometry.origin, img.GetOrigin())
    assert np.array_equal(p.image().array(), sitk.GetArrayFromImage(img))
    dose = sitk.GetArrayFromImage(sitk.ReadImage(str(demo_patient_path / "MR_StorT2" / "dose_interpolated.nii.gz")))
    assert np.array_equal(p.dose().array(), dose)


def test_fiducials_map_into_the_fiducial_mask(demo_patient_path):
    p = lp.open_patient(demo_patient_path)
    fid_mask = p.mask("MRI_T2_coords_fiducials")
    assert len(p.fiducials) == 3
    for f in p.fiducials:
        x, y, z = (int(round(v)) for v in f.voxel_xyz)
        assert fid_mask[z, y, x]
        assert p.mask("CTVT_427")[z, y, x], "fiducials lie inside the prostate"


@pytest.mark.slow
def test_non_identity_direction_and_origin(tmp_path):
    flip = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)
    root = tmp_path / "ds"
    generate(
        root,
        DemoOptions(patients=1, size="small", part="base", seed=3, direction=flip, origin_shift=(40.0, -25.0, 60.0)),
    )
    p = lp.open_patient(root / "LUNDPROBE_0001")
    assert np.allclose(p.geometry.direction, flip)
    assert abs(p.geometry.origin[0]) > 50
    assert p.geometry.axis_letters()[0] == ("L", "R")
    fid_mask = p.mask("MRI_T2_coords_fiducials")
    img = sitk.ReadImage(str(root / "LUNDPROBE_0001" / "MR_StorT2" / "image.nii.gz"))
    for f in p.fiducials:
        idx = img.TransformPhysicalPointToContinuousIndex(f.world_mm)
        assert np.allclose(idx, f.voxel_xyz, atol=1e-3)
        x, y, z = (int(round(v)) for v in f.voxel_xyz)
        assert fid_mask[z, y, x]
        # an identity-direction mapping would land elsewhere
        naive = (np.asarray(f.world_mm) - p.geometry.origin) / p.geometry.spacing
        assert np.abs(naive - np.asarray(f.voxel_xyz)).max() > 5


@pytest.mark.slow
def test_expected_missing_is_not_a_problem(tmp_path):
    root = tmp_path / "ds"
    generate(root, DemoOptions(patients=1, size="small", part="base", seed=4, force_missing={0: ["PenileBulb"]}))
    data = json.loads((root / "missingStructures_basePart.json").read_text())
    assert data == {"LUNDPROBE_0001": ["PenileBulb"]}
    p = lp.open_patient(root / "LUNDPROBE_0001")
    assert p.missing == ["PenileBulb"]
    assert not p.problems
    assert ("PenileBulb", "clinical") not in p.frames["MRI"].structures


@pytest.mark.slow
def test_info_json_cli(demo_patient_path):
    out = subprocess.run(
        [sys.executable, "-m", "lundprobe_gui", "info", str(demo_patient_path), "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    d = json.loads(out)
    for k in [
        "layout",
        "patient_id",
        "frames",
        "structures",
        "images",
        "doses",
        "uncertainty",
        "fiducials",
        "missing",
        "problems",
    ]:
        assert k in d
    assert d["frames"]["MRI"]["size_xyz"] == [256, 171, 44]
    assert len(d["structures"]) == 57
    assert len(d["fiducials"]) == 3


@pytest.mark.slow
def test_info_on_missing_folder_exits_2(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "lundprobe_gui", "info", str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and "nope" in r.stderr


@pytest.mark.slow
def test_folder_without_images_gives_clear_error(tmp_path):
    (tmp_path / "MR_StorT2").mkdir()
    (tmp_path / "MR_StorT2" / "notes.txt").write_text("hello")
    r = subprocess.run([sys.executable, "-m", "lundprobe_gui", "info", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "image.nii.gz" in r.stderr and "Traceback" not in r.stderr
