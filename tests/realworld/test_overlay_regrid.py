"""Dose and uncertainty maps on another grid are resampled once onto the frame's grid; masks never are."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

import lundprobe_gui as lp
from lundprobe_gui.core.geometry import Geometry
from lundprobe_gui.core.patient import Frame
from lundprobe_gui.core.regrid import attach_overlay, grid_label, resample_block, resampled_note
from lundprobe_gui.core.volume import Volume
from lundprobe_gui.metrics.dvh_rows import patient_dvhs

FINE = dict(size=(120, 100, 40), spacing=(0.9, 0.9, 2.0), origin=(-54.0, -45.0, -40.0))
COARSE = dict(size=(46, 40, 34), spacing=(2.5, 2.5, 2.5), origin=(-56.3, -48.1, -41.7))


def _img(arr, spec, direction=None):
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spec["spacing"])
    img.SetOrigin(spec["origin"])
    if direction is not None:
        img.SetDirection(direction)
    return img


def _coarse_dose() -> sitk.Image:
    """A smooth 3-D dose in Gy on the 2.5 mm planning grid, peaking near 44 Gy at the world origin."""
    idx = np.indices(COARSE["size"][::-1]).astype(np.float64)
    z, y, x = (o + i * s for o, i, s in zip(COARSE["origin"][::-1], idx, COARSE["spacing"][::-1]))
    dose = 44.0 / (1 + np.exp((np.sqrt(x**2 + (1.3 * y) ** 2 + (0.8 * z) ** 2) - 22.0) / 3.0))
    dose[dose < 0.5] = 0.0  # zero far from the target, as a planning system writes it
    return _img(dose.astype(np.float32), COARSE)


def _fine_arrays():
    nz, ny, nx = FINE["size"][::-1]
    z, y, x = np.indices((nz, ny, nx))
    wz, wy, wx = (o + i * s for o, i, s in zip(FINE["origin"][::-1], (z, y, x), FINE["spacing"][::-1]))
    image = (200 + (wx + wy) % 7 * 20).astype(np.int16)
    ctv = ((wx / 20) ** 2 + (wy / 15) ** 2 + (wz / 16) ** 2 <= 1).astype(np.uint8)
    rectum = ((wx / 8) ** 2 + ((wy - 24) / 8) ** 2 <= 1).astype(np.uint8) * (abs(wz) < 24)
    return image, ctv, rectum.astype(np.uint8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """The same case twice: the dose on its 2.5 mm grid, and the same dose pre-resampled by SimpleITK."""
    root = tmp_path_factory.mktemp("regrid")
    image, ctv, rectum = _fine_arrays()
    coarse = _coarse_dose()
    fine_ref = _img(image, FINE)
    pre = sitk.Resample(coarse, fine_ref, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    out = {}
    for name, dose in (("coarse", coarse), ("pre", pre)):
        d = root / name
        d.mkdir()
        sitk.WriteImage(fine_ref, str(d / "image.nii.gz"))
        sitk.WriteImage(_img(ctv, FINE), str(d / "mask_CTV.nii.gz"))
        sitk.WriteImage(_img(rectum, FINE), str(d / "mask_Rectum.nii.gz"))
        sitk.WriteImage(dose, str(d / "dose.nii.gz"))
        out[name] = d
    return out


@pytest.mark.slow
def test_dvh_of_a_coarse_grid_dose_matches_a_simpleitk_pre_resampled_one(folders):
    coarse, pre = lp.open_patient(folders["coarse"]), lp.open_patient(folders["pre"])
    assert not coarse.problems and not pre.problems
    dose = coarse.dose()
    assert dose is not None and dose.geometry == coarse.geometry  # shown on the image's grid
    assert resampled_note(dose) == "resampled from 2.5 mm grid"
    assert resampled_note(pre.dose()) == ""
    got, _ = patient_dvhs(coarse, prescription_gy=42.7)
    want, _ = patient_dvhs(pre, prescription_gy=42.7)
    assert [d.key for d in got] == [d.key for d in want] and len(got) == 2
    for g, w in zip(got, want):
        assert g.dvh.stats.mean_gy == pytest.approx(w.dvh.stats.mean_gy, rel=0.01)
        assert abs(g.dvh.stats.d95_gy - w.dvh.stats.d95_gy) <= 0.1
        assert g.dose == "dose, resampled from 2.5 mm grid" and w.dose == "dose"
    assert got[0].dvh.stats.mean_gy > 30  # the CTV sits in the high dose: the test compares real doses


@pytest.mark.slow
def test_the_resampled_dose_is_computed_once_and_cropped(folders, monkeypatch):
    p = lp.open_patient(folders["coarse"])
    dose = p.dose()
    calls = []
    import lundprobe_gui.core.regrid as regrid

    real = regrid.resample_block
    monkeypatch.setattr(regrid, "resample_block", lambda *a: calls.append(1) or real(*a))
    p.load_all()
    dose.array()
    dose.value_at(20, 50, 60)
    assert calls == [1]
    assert dose.data.size < np.prod(p.geometry.shape_zyx)  # only where the coarse grid reaches
    pre = sitk.GetArrayFromImage(sitk.ReadImage(str(folders["pre"] / "dose.nii.gz")))
    np.testing.assert_allclose(dose.array(), pre, atol=1e-3)


@pytest.mark.slow
def test_info_says_which_dose_is_resampled(folders):
    env_path = {"PYTHONPATH": ":".join(sys.path)}
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "lundprobe_gui", "info", *a], capture_output=True, text=True, env=env_path
    )
    text = run(str(folders["coarse"]))
    assert text.returncode == 0, text.stderr
    assert "image/dose (resampled from 2.5 mm grid)" in text.stdout
    info = json.loads(run("--json", str(folders["coarse"])).stdout)
    (d,) = info["doses"]
    assert d["resampled_from"]["spacing"] == [2.5, 2.5, 2.5]
    assert d["geometry"]["size_xyz"] == list(FINE["size"])


def test_a_mask_on_another_grid_is_still_left_out(folders, tmp_path):
    import shutil

    case = tmp_path / "case"
    shutil.copytree(folders["coarse"], case)
    ctv = sitk.ReadImage(str(case / "mask_CTV.nii.gz"))
    ctv.SetOrigin(tuple(v + 1.0 for v in ctv.GetOrigin()))
    sitk.WriteImage(ctv, str(case / "mask_CTV.nii.gz"))
    p = lp.open_patient(case)
    assert [pr.kind for pr in p.problems] == ["geometry-mismatch"]
    assert "CTV" not in {r.name for r in p.structures()}


def test_a_dose_that_does_not_overlap_the_image_is_a_problem():
    grid = Geometry((10, 10, 10), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    far = Geometry((5, 5, 5), (2.5, 2.5, 2.5), (500.0, 0.0, 0.0))
    frame = Frame("image", grid)
    vol = Volume(__file__, far, "dose", lambda p: np.ones(far.shape_zyx, np.float32), crop=True, name="dose")
    problem = attach_overlay(frame, vol)
    assert problem is not None and problem.kind == "geometry-mismatch" and "does not overlap" in problem.message
    assert not frame.doses
    with pytest.raises(ValueError, match="resampled"):
        from lundprobe_gui.core.regrid import resampled_volume

        resampled_volume(Volume(__file__, far, "image", lambda p: None), grid)


def test_resampling_follows_the_direction_matrices():
    # the source is stored RAS, the target LPS: same world, so the values land mirrored in index space
    src = Geometry((4, 3, 2), (1.0, 1.0, 1.0), (3.0, 2.0, 0.0), (-1, 0, 0, 0, -1, 0, 0, 0, 1))
    dst = Geometry((4, 3, 2), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    block = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    slab = resample_block(block, (0, 0, 0), src, dst)
    np.testing.assert_allclose(slab.full(), block[:, ::-1, ::-1], atol=1e-5)
    assert grid_label(Geometry((1, 1, 1), (0.9375, 0.9375, 2.5), (0, 0, 0))) == "0.938 x 0.938 x 2.5 mm grid"


@pytest.mark.slow
def test_lundprobe_planning_dose_is_resampled_only_when_shown(demo_patient_path):
    p = lp.open_patient(demo_patient_path)
    sct = p.frames["sCT"]
    original = sct.doses["dose_original"]
    assert original.geometry == sct.geometry and resampled_note(original) == "resampled from 2.5 mm grid"
    assert sct.dose() is sct.doses["dose_interpolated"]  # the dataset's own on-grid dose is preferred
    assert sct.standby() == [original]
    p.load_all()
    assert not original.loaded  # never resampled for nothing
    assert p.load_volume(original)
    interp = sct.doses["dose_interpolated"].array()
    inside = interp > 0.1 * interp.max()
    # the dataset's dose_interpolated is the same dose on the same grid: the two resamplings agree
    assert np.abs(original.array()[inside] - interp[inside]).mean() < 0.02 * interp.max()
