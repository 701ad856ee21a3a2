import hashlib
import json

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

import lundprobe_gui as lp
from lundprobe_gui.io.multilabel import LabelTableError, parse_label_csv, parse_label_json, save_label_map
from lundprobe_gui.metrics import pair_metrics


def _hashes(folder):
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def _nib(path):
    img = nib.load(str(path))
    return img, np.asarray(img.dataobj).transpose(2, 1, 0)


@pytest.fixture()
def npc(copy_of):
    case = copy_of("multilabel_json/npc1")
    return case, lp.open_patient(case)


def test_editing_one_label_changes_only_its_voxels(npc, tmp_path):
    case, p = npc
    before = _hashes(case)
    src = case / "labels_map.nii.gz"
    in_img, orig = _nib(src)
    b = p.mask("L_II+III+Va")  # label 2
    k_other = 1
    edit = b.copy()
    zs, ys, xs = np.nonzero(b)
    edit[zs[0], ys[0], xs[0]] = False  # remove one voxel
    free = np.argwhere(orig == 0)[0]
    edit[tuple(free)] = True  # add one background voxel
    taken = np.argwhere(orig == k_other)[:5]
    edit[tuple(taken.T)] = True  # try to take five voxels of label 1
    out = tmp_path / "edits"
    f = p.save_mask("L_II+III+Va", edit, source="clinical", out_dir=out, tool="brush")

    assert f == out / p.id / "labels_map_v001.nii.gz"
    plain = out / p.id / "labels_map.nii.gz"
    assert plain.read_bytes() == f.read_bytes()
    assert _hashes(case) == before  # the input is never written

    img, new = _nib(f)
    assert np.array_equal(img.affine, in_img.affine)
    assert img.get_data_dtype() == in_img.get_data_dtype()
    changed = new != orig
    assert set(np.unique(new)) == set(np.unique(orig))
    assert changed.sum() == 2  # the removed and the added voxel; label 1 kept its five voxels
    assert new[zs[0], ys[0], xs[0]] == 0 and new[tuple(free)] == 2
    assert np.all(new[tuple(taken.T)] == k_other)
    for k in (1, 3, 4, 5, 6):
        assert np.array_equal(new == k, orig == k)

    s = sitk.ReadImage(str(f))
    r = sitk.ReadImage(str(src))
    assert s.GetOrigin() == r.GetOrigin() and s.GetSpacing() == r.GetSpacing() and s.GetDirection() == r.GetDirection()
    assert np.array_equal(sitk.GetArrayFromImage(s), new)

    side = json.loads((out / p.id / "labels_map_v001.json").read_text())
    assert side["edited_labels"] == [2] and side["labels"]["2"] == "L_II+III+Va"
    assert side["label_stats"]["2"] == {"added": 1, "removed": 1, "refused_voxels": 5, "voxels": int((new == 2).sum())}
    assert side["overwrite_other_labels"] is False and side["tool"] == "brush" and side["parent"] is None
    assert side["voxel_sha256"] == hashlib.sha256(new.tobytes()).hexdigest()

    # the patient now shows the saved version for every label of the map
    assert np.array_equal(p.mask("L_II+III+Va"), new == 2)
    assert {r.path for r in p.structures()} == {str(plain)}


def test_second_save_keeps_the_first_edit(npc, tmp_path):
    case, p = npc
    _, orig = _nib(case / "labels_map.nii.gz")
    out = tmp_path / "edits"
    a = p.mask("R_II+III+Va")
    a[:] = False  # erase label 1
    p.save_mask("R_II+III+Va", a, source="clinical", out_dir=out)
    c = p.mask("R_IV+Vb")
    c2 = np.zeros_like(c)
    c2[np.nonzero(c)[0][0]] = c[np.nonzero(c)[0][0]]  # keep one slice of label 3
    f2 = p.save_mask("R_IV+Vb", c2, source="clinical", out_dir=out)
    assert f2.name == "labels_map_v002.nii.gz"
    _, new = _nib(f2)
    assert not (new == 1).any()
    assert np.array_equal(new == 3, c2)
    for k in (2, 4, 5, 6):
        assert np.array_equal(new == k, orig == k)
    side = json.loads((out / p.id / "labels_map_v002.json").read_text())
    assert side["parent"] == "labels_map_v001.nii.gz" and side["version"] == 2


def test_overwrite_other_labels_when_asked(npc, tmp_path):
    case, p = npc
    _, orig = _nib(case / "labels_map.nii.gz")
    grab = (orig == 1) | (orig == 2)
    f = save_label_map(p, case / "labels_map.nii.gz", {2: grab}, tmp_path / "o", overwrite_other_labels=True)
    _, new = _nib(f)
    assert not (new == 1).any() and np.array_equal(new == 2, grab)
    assert p.mask("R_II+III+Va").sum() == 0  # the cached mask of the overwritten label is refreshed


def test_output_inside_the_patient_folder_is_refused(npc):
    case, p = npc
    m = p.mask("R_Ib")
    with pytest.raises(PermissionError):
        save_label_map(p, case / "labels_map.nii.gz", {5: m}, case.parent)
    assert not list(case.rglob("*_v001*"))


def test_unknown_label_is_refused(npc, tmp_path):
    case, p = npc
    with pytest.raises(KeyError):
        save_label_map(p, case / "labels_map.nii.gz", {9: p.mask("R_Ib")}, tmp_path)


@pytest.mark.slow
def test_structseg_label_round_trip_keeps_the_dtype(copy_of, tmp_path):
    case = copy_of("structseg/1")
    p = lp.open_patient(case)
    m = p.mask("label_1")
    m[m.shape[0] // 2] = False
    f = p.save_mask("label_1", m, source="clinical", out_dir=tmp_path)
    a, b = nib.load(str(f)), nib.load(str(case / "label.nii.gz"))
    assert np.array_equal(a.affine, b.affine) and a.get_data_dtype() == b.get_data_dtype()
    assert np.array_equal(np.asarray(a.dataobj).transpose(2, 1, 0) == 1, m)
    assert f.parent == tmp_path / "1"


def test_binary_masks_of_a_plain_folder_still_save_as_masks(copy_of, tmp_path):
    p = lp.open_patient(copy_of("plain/case1"))
    m = p.mask("GTV")
    f = p.save_mask("GTV", m, source="step1_obsF", out_dir=tmp_path)
    assert f == tmp_path / "case1" / "observerData" / "mask_GTV_step1_obsF_v001.nii.gz"
    assert np.array_equal(nib.load(str(f)).affine, nib.load(str(p.image().path)).affine)


def test_metrics_work_on_every_new_layout(examples):
    p = lp.open_patient(examples / "multilabel_json" / "npc1")
    r = pair_metrics(p.mask_obj("R_II+III+Va"), p.mask_obj("R_II+III+Va"), p.geometry.spacing_zyx)
    assert r["dice"] == 1.0 and r["hd95_mm"] == 0.0
    r = pair_metrics(p.mask_obj("R_II+III+Va"), p.mask_obj("L_II+III+Va"), p.geometry.spacing_zyx)
    assert r["dice"] == 0.0 and r["hd95_mm"] > 10
    g = lp.open_patient(examples / "plain" / "case1")
    r = pair_metrics(g.mask_obj("GTV"), g.mask_obj("label_1"), g.geometry.spacing_zyx)
    assert 0.0 <= r["dice"] < 1.0 and r["volume_reference_cc"] > 0
    s = lp.open_patient(examples / "structseg" / "1")
    r = pair_metrics(s.mask_obj("label_1"), s.mask_obj("label_1"), s.geometry.spacing_zyx)
    assert r["dice"] == 1.0


@pytest.mark.parametrize(
    "text, want",
    [
        ('{"1": "A", "2": "B"}', {1: "A", 2: "B"}),
        ('{"labels": {"background": 0, "A": 1, "B": "2"}}', {1: "A", 2: "B"}),
        ('{"0": "bg", "3": " C ", "4": ""}', {3: "C"}),
    ],
)
def test_json_tables(text, want):
    assert parse_label_json(text) == want


def test_csv_tables():
    assert parse_label_csv("index,name\n1,R_II+III+Va\n2,L_II+III+Va\n") == {1: "R_II+III+Va", 2: "L_II+III+Va"}
    assert parse_label_csv("1;A\n\n2;B, with comma\n") == {1: "A", 2: "B, with comma"}
    assert parse_label_csv("1\tA\n") == {1: "A"}
    with pytest.raises(LabelTableError):
        parse_label_csv("name,index\nA,B\n")
    with pytest.raises(LabelTableError):
        parse_label_json('["A", "B"]')
