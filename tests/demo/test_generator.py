import hashlib

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

import lundprobe_gui as lp
from lundprobe_gui.demo import DemoOptions, generate
from lundprobe_gui.demo.grids import make_grids


def _read(path):
    return sitk.ReadImage(str(path))


def test_full_size_grid_is_the_datasets():
    g = make_grids("full", np.zeros(3))
    assert g.mri.size_xyz == (1024, 682, 88) and g.mri.spacing == (0.4688, 0.4688, 2.5)
    assert g.sct.size_xyz != g.mri.size_xyz and g.dose.spacing == (2.5, 2.5, 2.5)
    small = make_grids("small", np.zeros(3))
    fov_full = np.multiply(g.mri.size_xyz, g.mri.spacing)
    fov_small = np.multiply(small.mri.size_xyz, small.mri.spacing)
    assert np.allclose(fov_full, fov_small, rtol=2e-3)


@pytest.mark.slow
def test_dtypes_and_values(demo_patient_path):
    mri = demo_patient_path / "MR_StorT2"
    assert _read(mri / "image.nii.gz").GetPixelID() == sitk.sitkInt16
    assert _read(demo_patient_path / "sCT" / "image.nii.gz").GetPixelID() == sitk.sitkInt16
    dose = _read(mri / "dose_interpolated.nii.gz")
    assert dose.GetPixelID() == sitk.sitkFloat32
    d = sitk.GetArrayFromImage(dose)
    assert 42.7 < d.max() < 46.0
    m = sitk.GetArrayFromImage(_read(mri / "mask_CTVT_427.nii.gz"))
    assert m.dtype == np.uint8 and set(np.unique(m)) == {0, 1}
    ct = sitk.GetArrayFromImage(_read(demo_patient_path / "sCT" / "image.nii.gz"))
    assert ct.min() < -900 and ct.max() > 700  # air and cortical bone in HU
    orig = _read(demo_patient_path / "sCT" / "dose_original.nii.gz")
    assert orig.GetSpacing() == (2.5, 2.5, 2.5)


def test_mri_looks_like_t2(demo_patient_path):
    p = lp.open_patient(demo_patient_path)
    img = p.image().array().astype(float)
    bladder, ctv = p.mask("Bladder"), p.mask("CTVT_427")
    body = p.mask("BODY")
    assert img[bladder].mean() > 1.5 * img[ctv].mean()  # urine is bright on T2
    assert img[~body].mean() < 0.1 * img[bladder].mean()  # air is dark, with noise
    assert img[~body].std() > 1


def test_ptv_is_ctv_plus_7_mm_exactly(demo_patient_path):
    p = lp.open_patient(demo_patient_path)
    for frame in ("MRI", "sCT"):
        ctv = p.mask("CTVT_427", frame=frame)
        ptv = p.mask("PTVT_427", frame=frame)
        dist = ndimage.distance_transform_edt(~ctv, sampling=p.frames[frame].geometry.spacing_zyx)
        assert np.array_equal(ptv, dist <= 7.0 + 1e-6)


@pytest.mark.slow
def test_uncertainty_is_near_the_dl_boundary_and_at_most_half(demo_patient_path):
    p = lp.open_patient(demo_patient_path)
    for s in ("CTVT_427", "Rectum"):
        u = p.uncertainty(s).array()
        dl = p.mask(s, source="nnUNet")
        assert 0.3 < u.max() <= 0.5
        edge = dl ^ ndimage.binary_erosion(dl)
        dist = ndimage.distance_transform_edt(~edge, sampling=p.geometry.spacing_zyx)
        assert dist[u > 0].max() < 20.0, "non-zero only near the DL boundary"
        assert np.percentile(dist[u > 0], 75) < 6.0
        assert (u > 0).sum() < 0.05 * u.size
        folds = np.stack([p.mask(s, source=f"nnUNet_fold_{n}") for n in range(10)])
        disagree = folds.any(0) & ~folds.all(0)
        assert u[disagree].mean() > 0.15


@pytest.mark.slow
def test_step2_edits_less_where_uncertainty_is_low(tmp_path):
    root = tmp_path / "ds"
    generate(root, DemoOptions(patients=3, size="small", seed=7))
    low = {1: 0, 2: 0}
    for pdir in sorted(x for x in root.iterdir() if x.is_dir()):
        p = lp.open_patient(pdir)
        for s in ("CTVT_427", "Rectum"):
            dl = p.mask(s, source="nnUNet")
            u = p.uncertainty(s).array()
            for obs in ("obsB", "obsC", "obsD", "obsE"):
                for k in (1, 2):
                    edited = p.mask(s, source=f"step{k}_{obs}") ^ dl
                    low[k] += int((edited & (u > 0) & (u < 0.15)).sum())
    assert low[2] < 0.8 * low[1]


@pytest.mark.slow
def test_deterministic_from_seed(tmp_path):
    def digest(root):
        generate(root, DemoOptions(patients=1, size="small", part="base", seed=11))
        h = hashlib.sha256()
        for f in sorted(root.rglob("*.nii.gz")):
            h.update(sitk.GetArrayFromImage(_read(f)).tobytes())
        return h.hexdigest()

    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_dataset_root_files(demo_root):
    assert (demo_root / "missingStructures_extendedPart.json").is_file()
    assert (demo_root / "StructuresMoreThan1ConComp_extendedPart.txt").is_file()
    csv = (demo_root / "patGeometryInformation_extendedPart.csv").read_text().splitlines()
    assert csv[0].startswith("patient,MRI_size_x") and csv[1].startswith("LUNDPROBE_0433,256,171,44")
