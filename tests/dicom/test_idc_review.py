"""Review mode on a synthetic collection laid out as the published AI-review collections (IDC)."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pydicom
import pytest

import lundprobe_gui as lp
from lundprobe_gui.cli import main
from lundprobe_gui.io.dicom.collection import open_case
from lundprobe_gui.review import ReviewSession, init_review

from .conftest import dciodvfy_errors
from .synth import write_collection


@pytest.fixture()
def collection(tmp_path) -> tuple[Path, dict]:
    root = tmp_path / "kidney-ct"
    return root, write_collection(root)


def _digest(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_a_collection_case_opens_over_its_series(collection):
    root, masks = collection
    seg = sorted((root / "ai-segmentations-dcm").iterdir())[0]
    p = open_case(root, seg.relative_to(root))
    names = [(r.name, r.source) for r in p.structures()]
    assert names == [("Liver", "AI"), ("Kidney", "AI")]
    assert p.structure("Liver", "AI").colour == (200, 80, 40)
    px = next(m for m in masks.values() if (p.mask("Liver", "AI") == m[..., 0]).all())
    np.testing.assert_array_equal(p.mask("Kidney", "AI"), px[..., 1])


@pytest.mark.slow
def test_review_rates_corrects_and_exports_qa_results(collection, tmp_path):
    root, masks = collection
    before = _digest(root)
    init_review(tmp_path / "rv", root, "rad1")
    s = ReviewSession(tmp_path / "rv")
    cid = s.next_case()
    p = s.open_case(cid)
    s.rate("Liver", 3)
    s.rate("Kidney", 5)
    liver = p.mask("Liver", "AI")
    liver[2:5, 10:20, 20:24] = True
    saved = s.save_correction("Liver", liver)
    s.set_comment("segmentation", "liver undersegmented")
    s.finish_case()
    s.close()
    assert saved.parent.name == "qa-segmentations-dcm" and saved.suffix == ".dcm"
    assert dciodvfy_errors(saved) == []
    assert _digest(root) == before  # the collection is never written
    seg = pydicom.dcmread(saved)
    assert [x.SegmentLabel for x in seg.SegmentSequence] == ["Liver", "Kidney"]
    s2 = ReviewSession(tmp_path / "rv")
    p2 = s2.open_case(cid)
    np.testing.assert_array_equal(p2.mask("Liver", "AI"), liver)
    kidney = next(m[..., 1] for m in masks.values() if m[..., 0].sum() and (p2.mask("Kidney", "AI") == m[..., 1]).all())
    assert kidney.any()
    s2.close()
    assert main(["review", "export", str(tmp_path / "rv"), "--format", "qa-results"]) == 0
    rows = list(csv.DictReader((tmp_path / "rv" / "qa-results.csv").open()))
    assert len(rows) == 1
    r = rows[0]
    assert r["Collection"] == "kidney-ct" and r["Validation"] == "true" and r["Reviewer"] == "rad1"
    ai = pydicom.dcmread(root / "ai-segmentations-dcm" / r["AISegmentation"])
    assert r["SeriesInstanceUID"] == ai.ReferencedSeriesSequence[0].SeriesInstanceUID
    assert r["PatientID"] == ai.PatientID and r["StudyInstanceUID"] == ai.StudyInstanceUID
    assert r["CorrectedSegmentation"] == saved.name
    assert r["Was the AI predicted Liver label accurate?"] == "3"
    assert r["Was the AI predicted Kidney label accurate?"] == "5"
    assert r["Do you have any comments about the AI predicted ROIs?"] == "liver undersegmented"
    assert list(r)[:8] == [
        "Collection",
        "PatientID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "Validation",
        "Reviewer",
        "AISegmentation",
        "CorrectedSegmentation",
    ]


@pytest.mark.slow
def test_a_dicom_seg_correction_outside_review_opens_again(collection, tmp_path):
    root, _ = collection
    seg = sorted((root / "ai-segmentations-dcm").iterdir())[0]
    p = open_case(root, seg.relative_to(root))
    m = p.mask("Kidney", "AI")
    m[:] = False
    m[1, 1:4, 1:4] = True
    first = p.save_mask("Kidney", np.zeros_like(m), source="AI", out_dir=tmp_path / "edits")
    path = p.save_mask("Kidney", m, source="AI", out_dir=tmp_path / "edits")
    assert first.name.endswith("_v001.dcm") and path.name.endswith("_v002.dcm")
    assert path.with_suffix(".json").is_file() and first.is_file()
    folder = tmp_path / "check"
    folder.mkdir()
    series_files = [
        f
        for f in (root / "images").rglob("*.dcm")
        if pydicom.dcmread(f, stop_before_pixels=True).SeriesInstanceUID
        == pydicom.dcmread(seg).ReferencedSeriesSequence[0].SeriesInstanceUID
    ]
    for f in series_files:
        (folder / f.name).symlink_to(f)
    (folder / path.name).symlink_to(path)
    back = lp.open_patient(folder)
    ref = next(r for r in back.structures() if r.name == "Kidney")
    np.testing.assert_array_equal(back.mask(ref.name, ref.source), m)
