import gzip
import json
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

import lundprobe_gui as lp
from lundprobe_gui.cli import main
from lundprobe_gui.demo.other_layouts import NPC_NODE_LABELS, THORAX_LABELS, write_multilabel_case
from lundprobe_gui.io.open import LAYOUTS, detect_layout, is_dataset_root, list_patients


def _sitk(path):
    img = sitk.ReadImage(str(path))
    return img, sitk.GetArrayFromImage(img)


def _same_grid(p, path):
    img, _ = _sitk(path)
    g = p.geometry
    assert g.size_xyz == img.GetSize()
    assert np.allclose(g.spacing, img.GetSpacing()) and np.allclose(g.origin, img.GetOrigin())
    assert np.allclose(g.direction, img.GetDirection())


def test_structseg_binary_label(examples):
    case = examples / "structseg" / "1"
    p = lp.open_patient(case)
    assert p.layout == "structseg" and p.id == "1"
    assert list(p.frames) == ["CT"] and p.reference_frame.name == "CT"
    assert p.image().path == case / "data.nii.gz"
    _same_grid(p, case / "data.nii.gz")
    assert p.geometry.spacing == (1.0, 1.0, 3.0)
    refs = p.structures()
    assert [(r.name, r.source, r.label) for r in refs] == [("label_1", "clinical", 1)]
    _, label = _sitk(case / "label.nii.gz")
    assert np.array_equal(p.mask("label_1"), label == 1) and label.any()
    _, ct = _sitk(case / "data.nii.gz")
    assert np.array_equal(p.image().array(), ct) and ct.dtype == np.int16
    assert p.problems == []


def test_structseg_multilabel_names_from_root_csv(examples):
    case = examples / "structseg_thorax" / "1"
    p = lp.open_patient(case)
    assert p.layout == "structseg"
    got = {r.name: r.label for r in p.structures()}
    assert got == {v: k for k, v in THORAX_LABELS.items()}
    _, label = _sitk(case / "label.nii.gz")
    for name, k in got.items():
        assert np.array_equal(p.mask(name), label == k)
    assert p.problems == []


def test_structseg_dataset_root_lists_cases(examples):
    root = examples / "structseg"
    assert is_dataset_root(root) and detect_layout(root) is None
    assert [(e.patient_id, e.layout) for e in list_patients(root)] == [("1", "structseg"), ("2", "structseg")]


def test_structseg_without_label_reports_it(copy_of):
    case = copy_of("structseg/2")
    (case / "label.nii.gz").unlink()
    p = lp.open_patient(case)
    assert p.layout == "structseg" and p.structures() == []
    assert [pr.kind for pr in p.problems] == ["missing"]


def test_multilabel_names_from_labels_json(examples):
    case = examples / "multilabel_json" / "npc1"
    p = lp.open_patient(case)
    assert p.layout == "multilabel"
    assert list(p.frames) == ["image"]  # an MRI-like reference
    _same_grid(p, case / "image.nii.gz")
    refs = p.structures()
    assert [(r.name, r.label, r.source) for r in refs] == [
        (n, k, "clinical") for k, n in sorted(NPC_NODE_LABELS.items())
    ]
    assert {r.path for r in refs} == {str(case / "labels_map.nii.gz")}
    _, arr = _sitk(case / "labels_map.nii.gz")
    for r in refs:
        m = p.mask(r.name)
        assert m.any() and np.array_equal(m, arr == r.label)
    assert p.problems == []


def test_multilabel_names_from_csv_and_ct_frame(examples):
    p = lp.open_patient(examples / "multilabel_csv" / "npc2")
    assert p.layout == "multilabel" and list(p.frames) == ["CT"]
    assert [r.name for r in p.structures()] == [NPC_NODE_LABELS[k] for k in sorted(NPC_NODE_LABELS)]


def test_label_map_without_table_is_generic_with_fallback_names(examples):
    p = lp.open_patient(examples / "multilabel_none" / "npc3")
    assert p.layout == "generic"
    assert [(r.name, r.label) for r in p.structures()] == [(f"label_{k}", k) for k in range(1, 7)]


def test_per_file_table_wins_and_missing_names_fall_back(tmp_path):
    case = write_multilabel_case(tmp_path / "ds" / "p", names={1: "A", 2: "B", 3: "C"}, table="json")
    (case / "labels_map_labels.csv").write_text("index;name\n1;Alpha\n3;Gamma\n", encoding="utf-8")
    p = lp.open_patient(case)
    assert {r.name: r.label for r in p.structures()} == {"Alpha": 1, "label_2": 2, "Gamma": 3}


def test_unreadable_table_is_a_problem_and_names_fall_back(tmp_path):
    case = write_multilabel_case(tmp_path / "p", names={1: "A", 2: "B"}, table=None)
    (case / "labels.json").write_text("{not json", encoding="utf-8")
    p = lp.open_patient(case)
    assert p.layout == "multilabel"
    assert [r.name for r in p.structures()] == ["label_1", "label_2"]
    assert [(pr.kind, pr.path) for pr in p.problems] == [("corrupt", str(case / "labels.json"))]


def test_duplicate_label_names_are_told_apart(tmp_path):
    case = write_multilabel_case(tmp_path / "p", names={1: "Node", 2: "Node"}, table="json")
    p = lp.open_patient(case)
    assert [r.name for r in p.structures()] == ["Node", "Node_2"]
    assert [pr.kind for pr in p.problems] == ["duplicate-label-name"]


def test_plain_folder_sorts_every_file(examples):
    case = examples / "plain" / "case1"
    p = lp.open_patient(case)
    assert p.layout == "generic" and list(p.frames) == ["image"]
    fr = p.reference_frame
    assert fr.images["image"].path == case / "t2.nii.gz" and list(fr.images) == ["image"]
    _same_grid(p, case / "t2.nii.gz")
    got = {(r.name, r.source, r.label) for r in p.structures()}
    assert got == {
        ("GTV", "clinical", None),
        ("Rectum", "clinical", None),
        ("label_1", "clinical", 1),
        ("label_2", "clinical", 2),
        ("label_3", "clinical", 3),
    }
    assert list(fr.doses) == ["dose"] and list(fr.uncertainty) == ["uncertainty"]
    _, dose = _sitk(case / "dose.nii.gz")
    assert np.allclose(p.dose().array(), dose)
    assert np.array_equal(p.mask("GTV"), _sitk(case / "mask_GTV.nii.gz")[1] == 1)
    kinds = {pr.path.split("/")[-1]: pr.kind for pr in p.problems}
    assert kinds == {"other_grid.nii.gz": "geometry-mismatch", "series_4d.nii.gz": "unsupported"}
    msg = next(pr.message for pr in p.problems if pr.kind == "geometry-mismatch")
    assert "origin" in msg and "not resampled" in msg


def test_plain_folder_bad_files_are_problems_not_failures(copy_of):
    case = copy_of("plain/case1")
    raw = (case / "Rectum.nii.gz").read_bytes()
    (case / "Rectum.nii.gz").write_bytes(raw[: len(raw) // 2])
    (case / "empty.nii.gz").write_bytes(b"")
    (case / "noise.nii").write_bytes(b"this is not a NIfTI file" * 20)
    p = lp.open_patient(case)
    kinds = {pr.path.split("/")[-1]: pr.kind for pr in p.problems}
    assert kinds["Rectum.nii.gz"] == "truncated"
    assert kinds["empty.nii.gz"] == "corrupt" and kinds["noise.nii"] == "corrupt"
    assert "Rectum" not in {r.name for r in p.structures()}
    assert p.mask("GTV").any()


def test_float_and_0_255_masks_are_masks(copy_of):
    case = copy_of("plain/case1")
    img = sitk.ReadImage(str(case / "mask_GTV.nii.gz"))
    sitk.WriteImage(sitk.Cast(img, sitk.sitkFloat32), str(case / "gtv_float.nii.gz"))
    sitk.WriteImage(sitk.Cast(img, sitk.sitkUInt8) * 255, str(case / "gtv_255.nii.gz"))
    p = lp.open_patient(case)
    names = {r.name: r for r in p.structures()}
    ref = p.mask("GTV")
    assert np.array_equal(p.mask("gtv_float"), ref) and np.array_equal(p.mask("gtv_255"), ref)
    assert names["gtv_255"].label is None
    assert any(pr.kind == "non-binary" and pr.path.endswith("gtv_float.nii.gz") for pr in p.problems)


def test_name_collision_takes_the_file_stem_as_source(copy_of):
    case = copy_of("plain/case1")
    shutil.copy(case / "mask_GTV.nii.gz", case / "GTV.nii.gz")
    p = lp.open_patient(case)
    gtv = {r.source for r in p.structures() if r.name == "GTV"}
    assert gtv == {"clinical", "mask_GTV"}


def test_folder_of_masks_only_has_no_image(copy_of):
    case = copy_of("plain/case1")
    for f in case.iterdir():
        if f.name not in ("mask_GTV.nii.gz", "organs.nii.gz"):
            f.unlink()
    with pytest.raises(lp.NoImageError, match="no usable image"):
        lp.open_patient(case)


def test_dataset_root_of_mixed_layouts(examples, demo_root, tmp_path):
    root = tmp_path / "mixed"
    shutil.copytree(examples / "structseg" / "1", root / "ss1")
    shutil.copytree(examples / "multilabel_none" / "npc3", root / "plain1")
    shutil.copytree(demo_root / next(p.name for p in demo_root.iterdir() if p.is_dir()), root / "lp1")
    shutil.copy(examples / "multilabel_json" / "npc1" / "labels.json", root / "labels.json")
    assert is_dataset_root(root)
    # the root's labels.json makes the plain folder a multi-label case and names its labels
    assert [(e.patient_id, e.layout) for e in list_patients(root)] == [
        ("lp1", "lundprobe"),
        ("plain1", "multilabel"),
        ("ss1", "structseg"),
    ]
    assert lp.open_patient(root / "plain1").structures()[0].name == NPC_NODE_LABELS[1]
    assert {e.layout for e in list_patients(root)} <= set(LAYOUTS)


def test_lundprobe_is_still_lundprobe(demo_root, demo_patient_path):
    assert detect_layout(demo_patient_path) == "lundprobe"
    assert [e.layout for e in list_patients(demo_root)] == ["lundprobe"]
    assert lp.open_patient(demo_patient_path).layout == "lundprobe"


@pytest.mark.parametrize(
    "rel, layout",
    [
        ("structseg/1", "structseg"),
        ("multilabel_json/npc1", "multilabel"),
        ("multilabel_csv/npc2", "multilabel"),
        ("plain/case1", "generic"),
    ],
)
def test_info_json_reports_the_layout(examples, capsys, rel, layout):
    assert main(["info", str(examples / rel), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["layout"] == layout
    assert info["structures"] and all("label" in s or s["name"] in ("GTV", "Rectum") for s in info["structures"])
    assert main(["info", str(examples / rel)]) == 0
    assert f"({layout} layout)" in capsys.readouterr().out


def test_info_lists_a_structseg_root(examples, capsys):
    assert main(["info", str(examples / "structseg"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["patients"]
    assert [(r["patient_id"], r["layout"]) for r in rows] == [("1", "structseg"), ("2", "structseg")]


def test_info_on_a_folder_without_images_exits_2(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    assert main(["info", str(tmp_path)]) == 2
    assert "StructSeg" in capsys.readouterr().err


def test_gzip_multi_member_files_are_read(copy_of):
    # Some tools write gzip files in several members; the value scan must read all of them.
    case = copy_of("plain/case1")
    raw = gzip.decompress((case / "organs.nii.gz").read_bytes())
    half = len(raw) // 2
    (case / "organs.nii.gz").write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
    p = lp.open_patient(case)
    assert [r.name for r in p.structures() if r.label] == ["label_1", "label_2", "label_3"]
