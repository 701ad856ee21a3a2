"""The real dicompyler-core RT case: opened from a folder of DICOM files, its DVH checked against an
independent supersampled reference, and exported and re-imported as RTSTRUCT and DICOM-SEG."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy.ndimage import map_coordinates
from skimage.measure import points_in_poly

import lundprobe_gui as lp
from lundprobe_gui.cli import main
from lundprobe_gui.io.dicom.export import ExportError, export_patient
from lundprobe_gui.metrics.dvh_rows import patient_dvhs
from lundprobe_gui.metrics.overlap import dice
from lundprobe_gui.metrics.surface import hausdorff_mm

from .conftest import dciodvfy_errors, with_series

ROIS = ["BODY", "Areola", "Borders", "Breast", "Heart", "Lt Lung", "Nodes", "Scar", "Tumor Bed", "Tumor Bed Block"]


def _tree_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def patient(rt_case):
    return lp.open_patient(rt_case)


@pytest.mark.slow
def test_opens_as_dicom_with_the_real_slice_in_place(patient, rt_case):
    assert patient.layout == "dicom"
    g = patient.geometry
    assert g.size_xyz == (512, 512, 98)
    assert g.spacing == pytest.approx((1.074219, 1.074219, 3.0))
    real = pydicom.dcmread(rt_case / "ct.0.dcm")
    top = g.index_to_world((0, 0, 97))
    assert top == pytest.approx([float(v) for v in real.ImagePositionPatient], abs=1e-3)
    expected = real.pixel_array * float(real.RescaleSlope) + float(real.RescaleIntercept)
    np.testing.assert_array_equal(patient.image().load().data[97], expected)
    assert [r.name for r in patient.structures()] == ROIS
    heart = patient.structure("Heart")
    assert heart.colour == (255, 128, 0)
    assert any(p.kind == "empty" and "Areola" in p.message for p in patient.problems)
    assert patient.mask_obj("Areola").is_empty()
    assert patient.prescription_gy == pytest.approx(14.0)


@pytest.mark.slow
def test_dose_in_gy_lands_where_the_dose_grid_puts_it(patient, rt_case):
    raw = pydicom.dcmread(rt_case / "rtdose.dcm")
    grid = raw.pixel_array.astype(float) * float(raw.DoseGridScaling)
    own = patient.reference_frame.doses["dose_original"]
    assert patient.load_volume(own) and own.vmax == pytest.approx(grid.max(), rel=1e-6)
    dose = patient.dose()
    patient.load_volume(dose)
    assert 0.95 * grid.max() < dose.vmax <= grid.max() + 1e-4
    ox, oy, oz = (float(v) for v in raw.ImagePositionPatient)
    sy, sx = (float(v) for v in raw.PixelSpacing)
    rng = np.random.default_rng(3)
    g = patient.geometry
    box = dose.box
    picks = np.column_stack([rng.integers(lo, hi, 40) for lo, hi in box])  # (z, y, x)
    world = g.index_to_world(picks[:, ::-1].astype(float))
    coords = np.array([(world[:, 2] - oz) / 3.0, (world[:, 1] - oy) / sy, (world[:, 0] - ox) / sx])
    expected = map_coordinates(grid, coords, order=1, mode="constant", cval=0.0)
    got = np.array([dose.value_at(*p) for p in picks])
    np.testing.assert_allclose(got, expected, atol=1e-3 * grid.max())


def _reference_dvh(rtss, number: int, dose_grid: np.ndarray, dose_ds, step_mm: float) -> tuple[float, float]:
    """Mean dose and D95 of an ROI, supersampled: points every ``step_mm`` inside the contours (even-odd),
    each standing for its share of the 3 mm slab, dose interpolated trilinearly on the dose grid."""
    ox, oy, oz = (float(v) for v in dose_ds.ImagePositionPatient)
    sy, sx = (float(v) for v in dose_ds.PixelSpacing)
    item = next(i for i in rtss.ROIContourSequence if int(i.ReferencedROINumber) == number)
    planes: dict[float, list[np.ndarray]] = {}
    for c in item.ContourSequence:
        pts = np.asarray(c.ContourData, dtype=float).reshape(-1, 3)
        planes.setdefault(round(pts[0, 2], 2), []).append(pts)
    doses = []
    for z, polys in planes.items():
        allp = np.concatenate(polys)
        xs = np.arange(allp[:, 0].min(), allp[:, 0].max() + step_mm, step_mm) + step_mm / 2
        ys = np.arange(allp[:, 1].min(), allp[:, 1].max() + step_mm, step_mm) + step_mm / 2
        gx, gy = np.meshgrid(xs, ys)
        pts = np.column_stack([gx.ravel(), gy.ravel()])
        inside = np.zeros(len(pts), dtype=bool)
        for p in polys:
            inside ^= points_in_poly(pts, p[:, :2])
        sel = pts[inside]
        coords = np.array([np.full(len(sel), (z - oz) / 3.0), (sel[:, 1] - oy) / sy, (sel[:, 0] - ox) / sx])
        doses.append(map_coordinates(dose_grid, coords, order=1, mode="nearest"))
    d = np.sort(np.concatenate(doses))
    return float(d.mean()), float(np.percentile(d, 5))


@pytest.mark.slow
def test_dvh_matches_a_supersampled_reference(patient, rt_case):
    rtss = pydicom.dcmread(rt_case / "rtss.dcm")
    dose_ds = pydicom.dcmread(rt_case / "rtdose.dcm")
    grid = dose_ds.pixel_array.astype(float) * float(dose_ds.DoseGridScaling)
    refs = [
        r for r in patient.structures() if patient.mask_obj(r.name).count() * patient.geometry.voxel_volume_cc >= 10
    ]
    assert {r.name for r in refs} == {"BODY", "Breast", "Heart", "Lt Lung", "Tumor Bed", "Tumor Bed Block"}
    dvhs, warnings = patient_dvhs(patient, refs, patient.prescription_gy)
    assert not warnings
    for sd in dvhs:
        number = patient.structure(sd.key[0]).label
        step = 0.5 if sd.dvh.stats.volume_cc < 100 else 1.5
        mean, d95 = _reference_dvh(rtss, number, grid, dose_ds, step)
        assert sd.dvh.stats.mean_gy == pytest.approx(mean, rel=0.01), sd.key
        assert sd.dvh.stats.d95_gy == pytest.approx(d95, abs=0.1), sd.key


@pytest.mark.parametrize("fmt", ["rtstruct", "seg"])
@pytest.mark.slow
def test_export_round_trip_and_validates(patient, rt_case, tmp_path, fmt):
    before = _tree_digest(rt_case)
    out = tmp_path / "out"
    result = export_patient(patient, fmt, out)
    assert [p.parent for p in result.files] == [out] and len(list(out.iterdir())) == 1
    assert dciodvfy_errors(result.main) == []
    assert _tree_digest(rt_case) == before  # no input written
    back = lp.open_patient(with_series(tmp_path / "again", rt_case, result.main))
    source = "clinical" if fmt == "rtstruct" else back.sources()[0]
    spacing = patient.geometry.spacing_zyx
    for name in ROIS:
        a = patient.mask_obj(name)
        if a.is_empty():
            continue
        b = back.mask_obj(name, source)
        assert dice(a, b) >= 0.98, name
        assert hausdorff_mm(a, b, spacing, 95) <= min(spacing), name
    ds = pydicom.dcmread(result.main)
    assert ds.SOPInstanceUID not in {pydicom.dcmread(rt_case / "rtss.dcm").SOPInstanceUID}
    if fmt == "rtstruct":
        uids = {
            c.ContourImageSequence[0].ReferencedSOPInstanceUID
            for rc in ds.ROIContourSequence
            for c in rc.get("ContourSequence", [])
        }
        slices = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in rt_case.glob("ct.*.dcm")}
        assert uids <= slices


@pytest.mark.slow
def test_corrected_structure_exports_under_a_clear_name(rt_case, tmp_path, capsys):
    p = lp.open_patient(rt_case)
    heart = p.mask("Heart")
    heart[40:44, 250:270, 250:270] = True
    p.save_mask("Heart", heart, source="corrected", out_dir=tmp_path / "edits")
    code = main(
        [
            "export",
            str(rt_case),
            "--format",
            "rtstruct",
            "--out",
            str(tmp_path / "out"),
            "--edits",
            str(tmp_path / "edits"),
            "--structures",
            "Heart",
            "Heart:corrected",
        ]
    )
    assert code == 0
    rs = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert dciodvfy_errors(rs) == []
    back = lp.open_patient(with_series(tmp_path / "again", rt_case, rs))
    assert [r.name for r in back.structures()] == ["Heart", "Heart corrected v001"]
    assert dice(back.mask_obj("Heart corrected v001"), heart) >= 0.98
    assert back.mask_obj("Heart corrected v001") != back.mask_obj("Heart")


def test_export_refuses_an_output_inside_the_patient(patient, rt_case):
    with pytest.raises(ExportError, match="inside the patient folder"):
        export_patient(patient, "rtstruct", rt_case / "export")
    assert not (rt_case / "export").exists()
