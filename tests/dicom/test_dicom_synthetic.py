"""Synthetic DICOM-RT edge cases (SimpleITK writes the series, pydicom builds the RT objects)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest

import lundprobe_gui as lp
from lundprobe_gui.io.dicom.export import export_patient
from lundprobe_gui.io.open import detect_layout, is_dataset_root
from lundprobe_gui.metrics.overlap import dice

from .conftest import dciodvfy_errors
from .synth import make_dose, make_rtstruct, square, write_series


def _volume(z=10, y=40, x=50) -> np.ndarray:
    return (np.arange(z * y * x) % 1000).reshape(z, y, x).astype(np.int16)


def _kinds(p) -> set[str]:
    return {pr.kind for pr in p.problems}


def test_slices_are_sorted_by_position_not_name_and_a_gap_never_shifts_them(tmp_path):
    arr = _volume()
    files = write_series(
        tmp_path / "p", arr, spacing=(1.0, 1.0, 2.5), origin=(-10, 5, 30), skip=(4,), names="{k}_x.dcm"
    )
    (tmp_path / "p" / "notes.txt").write_text("not DICOM")
    p = lp.open_patient(tmp_path / "p")
    assert p.layout == "dicom" and p.geometry.size_xyz == (50, 40, 10)
    assert "missing-slices" in _kinds(p)
    data = p.image().load().data
    for k in (3, 5, 9):
        np.testing.assert_array_equal(data[k], arr[k])
        ipp = pydicom.dcmread(next(f for f in files if f.name == f"{k}_x.dcm")).ImagePositionPatient
        assert p.geometry.index_to_world((0, 0, k)) == pytest.approx([float(v) for v in ipp], abs=1e-4)
    assert np.all(data[4] == data.min())
    msg = next(pr.message for pr in p.problems if pr.kind == "missing-slices")
    assert "CT series" in msg and "plane" in msg


def test_uneven_spacing_is_a_problem_naming_the_series(tmp_path):
    z = [0, 2, 4, 7, 9, 11, 14, 16, 18, 20]
    files = write_series(tmp_path / "p", _volume(), z_positions=z)
    p = lp.open_patient(tmp_path / "p")
    msg = next(pr.message for pr in p.problems if pr.kind == "uneven-spacing")
    assert pydicom.dcmread(files[0]).SeriesInstanceUID in msg and "steps 2, 3 mm" in msg


def test_mixed_orientations_keep_the_majority(tmp_path):
    arr = _volume()
    study, for_uid, series = (pydicom.uid.generate_uid() for _ in range(3))
    write_series(tmp_path / "p", arr, study=study, for_uid=for_uid, series=series)
    write_series(
        tmp_path / "p",
        arr[:2],
        direction=(1, 0, 0, 0, 0, 1, 0, -1, 0),
        origin=(0, 500, 0),
        study=study,
        for_uid=for_uid,
        series=series,
        names="odd{k}.dcm",
    )
    p = lp.open_patient(tmp_path / "p")
    assert p.geometry.size_xyz == (50, 40, 10)
    assert "mixed-orientation" in _kinds(p)


def test_a_series_without_pixel_data_is_a_problem(tmp_path):
    files = write_series(tmp_path / "p" / "good", _volume())
    bad = write_series(tmp_path / "p" / "bad", _volume(3))
    for f in bad:
        ds = pydicom.dcmread(f)
        del ds.PixelData
        ds.save_as(f)
    p = lp.open_patient(tmp_path / "p")
    prob = next(pr for pr in p.problems if pr.kind == "no-pixel-data")
    assert pydicom.dcmread(bad[0]).SeriesInstanceUID in prob.message
    assert len(p.frames) == 1 and Path(p.image().path).parent == files[0].parent


def test_nested_contours_are_holes_and_islands_and_empty_rois_are_listed(tmp_path):
    files = write_series(tmp_path / "p", _volume(), spacing=(1.0, 1.0, 2.0))
    z = 6.0  # plane 3
    rings = [square(25, 20, 15.5, z), square(25, 20, 8.5, z), square(25, 20, 2.5, z)]
    make_rtstruct(tmp_path / "p" / "rs.dcm", files, [("Rings", rings), ("Nothing", [])])
    p = lp.open_patient(tmp_path / "p")
    m = p.mask("Rings")
    plane = m[3]
    assert m.sum() == plane.sum()
    yy, xx = np.mgrid[0:40, 0:50]
    d = np.maximum(np.abs(xx - 25), np.abs(yy - 20))
    expected = (d <= 15) & ~(d <= 8) | (d <= 2)
    np.testing.assert_array_equal(plane, expected)
    assert p.mask_obj("Nothing").is_empty()
    assert any(pr.kind == "empty" and "Nothing" in pr.message for pr in p.problems)


def test_a_structure_set_whose_series_is_absent_is_a_problem(tmp_path):
    files = write_series(tmp_path / "p", _volume())
    other = write_series(tmp_path / "elsewhere", _volume(2))  # same content, another frame of reference
    make_rtstruct(tmp_path / "p" / "rs.dcm", other, [("Box", [square(25, 20, 5, 0.0)])])
    p = lp.open_patient(tmp_path / "p")
    prob = next(pr for pr in p.problems if pr.kind == "missing-series")
    assert pydicom.dcmread(other[0]).SeriesInstanceUID in prob.message
    assert not p.structures()
    assert files


def test_plan_and_per_beam_doses_are_labelled_and_scaled(tmp_path):
    files = write_series(tmp_path / "p", _volume(), spacing=(1.0, 1.0, 2.0))
    dose = np.zeros((5, 10, 12))
    dose[2, 5, 6] = 2.5
    make_dose(tmp_path / "p" / "plan.dcm", files[0], dose, origin=(0, 0, 0), spacing=(4.0, 4.0, 4.0))
    make_dose(
        tmp_path / "p" / "beam.dcm",
        files[0],
        dose / 2,
        origin=(0, 0, 0),
        spacing=(4.0, 4.0, 4.0),
        summation="BEAM",
        beam=2,
    )
    make_dose(
        tmp_path / "p" / "raw.dcm",
        files[0],
        dose * 1000,
        origin=(0, 0, 0),
        spacing=(4.0, 4.0, 4.0),
        scaling=None,
        summation="FRACTION",
    )
    p = lp.open_patient(tmp_path / "p")
    doses = p.reference_frame.doses
    assert {"dose", "dose beam 2", "dose fraction"} <= set(doses)
    assert "RTDOSE PLAN (5 frames" in doses["dose"].name
    v = doses["dose"]
    p.load_volume(v)
    # dose voxel (z=2, y=5, x=6) is at (24, 20, 8) mm = CT voxel (x=24, y=20, z=4)
    assert v.value_at(4, 20, 24) == pytest.approx(2.5, abs=1e-6)
    assert "no-dose-scaling" in _kinds(p)
    raw = doses["dose fraction"]
    p.load_volume(raw)
    assert raw.vmax == pytest.approx(2500.0)


@pytest.mark.parametrize(
    "direction",
    [(0, 0, -1, 1, 0, 0, 0, -1, 0), (1, 0, 0, 0, 0, 1, 0, -1, 0)],
    ids=["sagittal", "coronal"],
)
def test_non_axial_series_keep_their_geometry_and_contours(tmp_path, direction):
    arr = _volume(8, 30, 36)
    files = write_series(tmp_path / "p", arr, spacing=(0.8, 0.9, 3.0), origin=(12, -40, 60), direction=direction)
    p = lp.open_patient(tmp_path / "p")
    g = p.geometry
    assert g.direction == pytest.approx(direction, abs=1e-6)
    np.testing.assert_array_equal(p.image().load().data, arr)
    # a contour drawn on slice 5 around in-plane indices x 10..20, y 8..14
    corners = np.array([[9.5, 7.5, 5], [20.5, 7.5, 5], [20.5, 14.5, 5], [9.5, 14.5, 5]], dtype=float)
    make_rtstruct(tmp_path / "p" / "rs.dcm", files, [("Slab", [g.index_to_world(corners)])])
    m = lp.open_patient(tmp_path / "p").mask("Slab")
    expected = np.zeros_like(m)
    expected[5, 8:15, 10:21] = True
    np.testing.assert_array_equal(m, expected)


def test_non_dicom_files_and_a_fifo_are_skipped_without_hanging(tmp_path):
    write_series(tmp_path / "p" / "deep" / "er", _volume(4))
    (tmp_path / "p" / "readme.md").write_text("# notes")
    (tmp_path / "p" / "junk.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 40)
    os.mkfifo(tmp_path / "p" / "pipe.dcm")
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("p", lp.open_patient(tmp_path / "p")), daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive(), "opening a tree with a FIFO hung"
    p = got["p"]
    kinds = {Path(pr.path).name: pr.kind for pr in p.problems}
    assert kinds["pipe.dcm"] == "special-file" and kinds["junk.dcm"] == "corrupt"
    assert p.geometry.size_xyz[2] == 4


def test_a_folder_of_dicom_patients_is_a_dataset_root(tmp_path):
    for pid in ("A", "B"):
        f = write_series(tmp_path / "root" / pid, _volume(3))
        for path in f:
            ds = pydicom.dcmread(path)
            ds.PatientID = pid
            ds.save_as(path)
    assert detect_layout(tmp_path / "root") is None and is_dataset_root(tmp_path / "root")
    assert [e.layout for e in lp.list_patients(tmp_path / "root")] == ["dicom", "dicom"]


def test_fractional_seg_is_thresholded_with_a_note(tmp_path):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    files = write_series(tmp_path / "p", _volume(4, 20, 20), spacing=(1.0, 1.0, 2.0))
    src = [pydicom.dcmread(f) for f in files]
    prob = np.zeros((4, 20, 20), dtype=np.float32)
    prob[1, 5:10, 5:10] = 0.8
    prob[1, 10:12, 5:10] = 0.3
    desc = hd.seg.SegmentDescription(
        1,
        "Lesion",
        codes.SCT.Tissue,
        codes.SCT.Tissue,
        hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        hd.AlgorithmIdentificationSequence("net", codes.cid7162.ArtificialIntelligence, "1"),
    )
    seg = hd.seg.Segmentation(
        src,
        prob,
        hd.seg.SegmentationTypeValues.FRACTIONAL,
        [desc],
        hd.UID(),
        2,
        hd.UID(),
        1,
        "m",
        "m",
        "1",
        "1",
        series_description="AI",
    )
    seg.save_as(tmp_path / "p" / "seg.dcm")
    p = lp.open_patient(tmp_path / "p")
    ref = p.structures()[0]
    assert (ref.name, ref.source) == ("Lesion", "AI")
    m = p.mask(ref.name, ref.source)
    assert m.sum() == 25 and m[1, 5:10, 5:10].all()
    assert "fractional" in _kinds(p)


@pytest.mark.slow
def test_nifti_patient_export_writes_a_consistent_series(demo_patient_path, tmp_path):
    p = lp.open_patient(demo_patient_path)
    res = export_patient(p, "rtstruct", tmp_path / "out", ["CTVT_427", "Rectum:nnUNet"])
    images = [f for f in res.files if f.name.startswith("MR.")]
    assert len(images) == p.geometry.size_xyz[2]
    heads = [pydicom.dcmread(f, stop_before_pixels=True) for f in images]
    rs = pydicom.dcmread(res.main)
    assert len({h.StudyInstanceUID for h in heads} | {rs.StudyInstanceUID}) == 1
    assert len({h.FrameOfReferenceUID for h in heads} | {rs.FrameOfReferenceUID}) == 1
    assert dciodvfy_errors(images[0]) == [] and dciodvfy_errors(res.main) == []
    back = lp.open_patient(tmp_path / "out")
    assert back.geometry.size_xyz == p.geometry.size_xyz
    assert back.geometry.origin == pytest.approx(p.geometry.origin, abs=1e-3)
    for name, source, new in (("CTVT_427", "clinical", "CTVT_427"), ("Rectum", "nnUNet", "Rectum nnUNet")):
        assert dice(p.mask_obj(name, source), back.mask_obj(new)) >= 0.98
    mri = p.image().load().array().astype(float)
    np.testing.assert_allclose(back.image().load().array(), mri, atol=np.ptp(mri) / 30000 + 1e-6)
