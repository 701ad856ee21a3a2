import csv
import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

import lundprobe_gui as lp
from lundprobe_gui.review import (
    LIKERT_SCALE,
    NO_CORRECTION_SCORE,
    NoOpenCase,
    ReviewError,
    ReviewRuleError,
    ReviewSession,
    columns,
    init_review,
    load_protocol,
)
from lundprobe_gui.study.errors import SessionLocked

A, B, C = "R_II+III+Va", "L_II+III+Va", "R_IV+Vb"
T0 = 1_700_000_000.0


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _label(path):
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_the_scale_is_data_for_the_ui():
    assert [lv.score for lv in LIKERT_SCALE] == [5, 4, 3, 2, 1]
    assert LIKERT_SCALE[0].label == "Strongly agree" and not LIKERT_SCALE[0].allows_correction
    assert all(lv.allows_correction for lv in LIKERT_SCALE[1:]) and NO_CORRECTION_SCORE == 5
    assert "quicker than starting over" in LIKERT_SCALE[2].meaning
    assert LIKERT_SCALE[4].text() == "1 - Strongly disagree: unusable"


@pytest.mark.slow
def test_scripted_review_of_three_cases(review_dir, dataset):
    s = ReviewSession(review_dir)
    assert s.case_ids == ["case01", "case02", "case03"] and s.next_case() == "case01"

    # case01: everything rated 5, nothing corrected; 20 s open, one 300 s pause counts its 10 s tail
    s.open_case("case01", now=T0)
    for seg in s.segments():
        s.rate(seg.name, 5, now=T0 + 10)
        assert not s.can_edit(seg.name)
    s.set_comment("findings", "no nodes, lungs clear", now=T0 + 20)
    s.activity(now=T0 + 320)
    s.finish_case(now=T0 + 330)
    assert s.active_seconds("case01") == pytest.approx(20 + 10 + 10)

    # case02: label A corrected (an added slab), B and C rated 4 and 5
    p = s.open_case("case02", now=T0 + 1000)
    orig02 = _label(dataset / "case02" / "labels_map.nii.gz")
    s.rate(A, 3, now=T0 + 1010)
    a = p.mask(A)
    zs = np.nonzero(a.any(axis=(1, 2)))[0]
    added = np.zeros_like(a)
    added[zs[-1]] = np.roll(a[zs[-1]], 3, axis=1) & (orig02[zs[-1]] == 0)
    f02 = s.save_correction(A, a | added, now=T0 + 1040)
    s.rate(B, 4, now=T0 + 1050)
    s.rate(C, 5, now=T0 + 1060)
    s.set_comment("segmentation", 'A too small caudally, "extended"', now=T0 + 1070)
    s.finish_case(now=T0 + 1080)

    # case03: B and C corrected (each saved once, one label-map file in the end)
    p = s.open_case(s.next_case(), now=T0 + 2000)
    assert s.current.case_id == "case03"
    orig03 = _label(dataset / "case03" / "labels_map.nii.gz")
    s.rate(A, 4, now=T0 + 2005)
    s.rate(B, 2, now=T0 + 2010)
    s.rate(C, 1, now=T0 + 2015)
    s.save_correction(B, np.zeros_like(p.mask(B)), now=T0 + 2020)
    c = p.mask(C)
    c[np.nonzero(c.any(axis=(1, 2)))[0][0]] = False
    f03 = s.save_correction(C, c, now=T0 + 2030)
    s.set_comment("segmentation", "B missed, C one slice too long", now=T0 + 2040)
    s.set_comment("findings", "node L level II, 12 mm", now=T0 + 2045)
    s.finish_case(now=T0 + 2050)
    s.close(now=T0 + 2100)

    rows = _read_csv(review_dir / "review-results.csv")
    assert rows[0] == [
        "case ID",
        "reviewer",
        "AI segmentation file",
        "corrected segmentation file",
        f"{A} rating",
        f"{B} rating",
        f"{C} rating",
        "segmentation comment",
        "findings comment",
        "active review time (s)",
    ]
    assert rows[0] == columns(load_protocol(review_dir))
    assert rows[1] == [
        "case01",
        "R1",
        "case01/labels_map.nii.gz",
        "",
        "5",
        "5",
        "5",
        "",
        "no nodes, lungs clear",
        "40.0",
    ]
    assert rows[2] == [
        "case02",
        "R1",
        "case02/labels_map.nii.gz",
        "output/case02/labels_map_v001.nii.gz",
        "3",
        "4",
        "5",
        'A too small caudally, "extended"',
        "",
        "80.0",
    ]
    assert rows[3] == [
        "case03",
        "R1",
        "case03/labels_map.nii.gz",
        "output/case03/labels_map_v002.nii.gz",
        "4",
        "2",
        "1",
        "B missed, C one slice too long",
        "node L level II, 12 mm",
        "50.0",
    ]
    assert len(rows) == 4

    # the corrected files hold exactly the corrections, the other labels untouched
    assert f02 == review_dir / "output" / "case02" / "labels_map_v001.nii.gz"
    new02 = _label(f02)
    assert np.array_equal(new02 == 1, a | added) and added.any()
    assert np.array_equal(new02 == 2, orig02 == 2) and np.array_equal(new02 == 3, orig02 == 3)
    new03 = _label(f03)
    assert np.array_equal(new03 == 1, orig03 == 1) and not (new03 == 2).any() and np.array_equal(new03 == 3, c)
    assert np.array_equal(nib.load(str(f03)).affine, nib.load(str(dataset / "case03" / "labels_map.nii.gz")).affine)
    side = json.loads(f03.with_suffix("").with_suffix(".json").read_text())
    assert side["user"] == "R1" and side["review_case"] == "case03" and side["rating"] == 1


@pytest.mark.slow
def test_rules(review_dir):
    s = ReviewSession(review_dir)
    with pytest.raises(NoOpenCase):
        s.rate(A, 3)
    p = s.open_case("case01", now=T0)
    m = p.mask(A)
    with pytest.raises(ReviewRuleError, match=r"rate .* first"):
        s.save_correction(A, m, now=T0 + 1)
    s.rate(A, 5, now=T0 + 2)
    with pytest.raises(ReviewRuleError, match="use as is"):
        s.save_correction(A, m, now=T0 + 3)
    assert not list((review_dir / "output").rglob("*.nii.gz"))
    s.rate(A, 2, now=T0 + 4)
    assert s.can_edit(A)
    s.save_correction(A, m, now=T0 + 5)
    with pytest.raises(ReviewRuleError, match="discard the correction"):
        s.rate(A, 5, now=T0 + 6)
    for bad in (0, 6, 3.5, "4", True):
        with pytest.raises(ReviewRuleError):
            s.rate(B, bad)
    with pytest.raises(ReviewError):
        s.rate("Bladder", 3)
    with pytest.raises(ReviewError):
        s.set_comment("other", "x")
    with pytest.raises(ReviewRuleError, match="still unrated"):
        s.finish_case(now=T0 + 7)
    assert s.case_state().status == "in progress"
    s.close()


@pytest.mark.slow
def test_discard_restores_the_ai_segment(review_dir, dataset):
    s = ReviewSession(review_dir)
    p = s.open_case("case02", now=T0)
    orig = _label(dataset / "case02" / "labels_map.nii.gz")
    s.rate(A, 3, now=T0 + 1)
    s.rate(B, 3, now=T0 + 1)
    s.save_correction(A, np.zeros_like(p.mask(A)), now=T0 + 2)
    s.save_correction(B, np.zeros_like(p.mask(B)), now=T0 + 3)
    s.discard_correction(A, now=T0 + 4)
    st = s.case_state()
    assert st.corrected == [B]
    latest = review_dir / st.files["case02/labels_map.nii.gz"]
    assert latest.name == "labels_map_v003.nii.gz"
    new = _label(latest)
    assert np.array_equal(new == 1, orig == 1) and not (new == 2).any()
    assert np.array_equal(p.mask(A), orig == 1)
    s.rate(A, 5, now=T0 + 5)  # allowed again
    s.discard_correction(B, now=T0 + 6)
    s.rate(C, 5, now=T0 + 7)
    s.finish_case(now=T0 + 8)
    row = _read_csv(review_dir / "review-results.csv")[1]
    assert row[:4] == ["case02", "R1", "case02/labels_map.nii.gz", ""]
    s.close()


def test_state_is_saved_after_every_change_and_resumes(review_dir):
    s = ReviewSession(review_dir, lock=False)
    p = s.open_case("case02", now=T0)
    s.rate(A, 3, now=T0 + 30)
    m = p.mask(A)
    m[m.any(axis=(1, 2))] = False
    s.save_correction(A, m, now=T0 + 40)
    s.set_comment("findings", "partial", now=T0 + 45)
    state = json.loads((review_dir / "state.json").read_text())
    assert state["current"] == "case02"
    c = state["cases"]["case02"]
    assert c["ratings"] == {A: 3} and c["corrected"] == [A] and c["comments"]["findings"] == "partial"
    assert c["active_seconds"] == pytest.approx(45.0)
    # crash: no close. A new session resumes the case and shows the saved correction.
    s2 = ReviewSession(review_dir, lock=False)
    assert s2.next_case() == "case02"
    p2 = s2.open_case("case02", now=T0 + 5000)  # the crash gap is not counted
    assert not p2.mask(A).any()
    assert p2.structure(A).path.endswith("output/case02/labels_map_v001.nii.gz")
    s2.activity(now=T0 + 5010)
    assert s2.active_seconds(now=T0 + 5010) == pytest.approx(55.0)
    # a further correction continues the same version series
    s2.rate(B, 4, now=T0 + 5020)
    f = s2.save_correction(B, p2.mask(B), now=T0 + 5030)
    assert f.name == "labels_map_v002.nii.gz"
    assert not (_label(f) == 1).any()  # the first correction is still there


def test_activity_alone_saves_the_time_every_few_seconds(review_dir):
    s = ReviewSession(review_dir, lock=False)
    s.open_case("case01", now=T0)
    stamp = (review_dir / "state.json").stat().st_mtime_ns
    s.activity(now=T0 + 1)
    assert (review_dir / "state.json").stat().st_mtime_ns == stamp
    s.activity(now=T0 + 12)
    assert json.loads((review_dir / "state.json").read_text())["cases"]["case01"]["active_seconds"] == 12.0


def test_a_second_session_is_refused(review_dir):
    s = ReviewSession(review_dir)
    with pytest.raises(SessionLocked):
        ReviewSession(review_dir)
    s.close()
    ReviewSession(review_dir).close()


def test_init_refuses_bad_input(dataset, tmp_path):
    from lundprobe_gui.core.names import InvalidName

    with pytest.raises(InvalidName):
        init_review(tmp_path / "r1", dataset, "../evil")
    with pytest.raises(ReviewError, match="not in"):
        init_review(tmp_path / "r2", dataset, "R1", cases=["case01", "nope"])
    with pytest.raises(ReviewError, match="no AI segmentation"):
        init_review(tmp_path / "r3", dataset, "R1", segmentation="nnUNet")
    proto = init_review(tmp_path / "r4", dataset, "R1", cases=["case03", "case01"])
    assert [c.case_id for c in proto.cases] == ["case03", "case01"]
    with pytest.raises(ReviewError, match="already holds a review"):
        init_review(tmp_path / "r4", dataset, "R1")


@pytest.mark.slow
def test_lundprobe_binary_segments(demo_root, tmp_path):
    proto = init_review(tmp_path / "r", demo_root, "R2")
    case = proto.cases[0]
    assert case.source == "nnUNet" and [x.name for x in case.segments] == ["CTVT_427", "Rectum"]
    s = ReviewSession(tmp_path / "r")
    p = s.open_case(case.case_id, now=T0)
    s.rate("CTVT_427", 3, now=T0 + 1)
    s.rate("Rectum", 5, now=T0 + 2)
    m = p.mask("CTVT_427", source="nnUNet")
    m[m.any(axis=(1, 2)).nonzero()[0][0]] = False
    f = s.save_correction("CTVT_427", m, now=T0 + 3)
    assert (
        f
        == tmp_path / "r" / "output" / case.case_id / "MR_StorT2" / "observerData" / "mask_CTVT_427_nnUNet_v001.nii.gz"
    )
    s.finish_case(now=T0 + 4)
    s.close()
    row = _read_csv(tmp_path / "r" / "review-results.csv")[1]
    pid = case.case_id
    dl = f"{pid}/MR_StorT2/nnUNetOutput"
    assert row[2] == f"{dl}/mask_CTVT_427_nnUNet.nii.gz;{dl}/mask_Rectum_nnUNet.nii.gz"
    assert row[3] == f"output/{pid}/MR_StorT2/observerData/mask_CTVT_427_nnUNet_v001.nii.gz"
    assert row[4:6] == ["3", "5"]
    assert np.array_equal(_label(f).astype(bool), m)
    assert lp.open_patient(demo_root / pid).mask("CTVT_427", "nnUNet").sum() > m.sum()  # the input is unchanged


@pytest.mark.slow
def test_review_package_never_imports_qt():
    code = (
        "import sys, lundprobe_gui.review, lundprobe_gui.cli.review_cmd, lundprobe_gui.io.generic, "
        "lundprobe_gui.io.structseg, lundprobe_gui.core.modality, lundprobe_gui.demo.other_layouts; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6') "
        "or m.startswith('lundprobe_gui.ui')]; print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
