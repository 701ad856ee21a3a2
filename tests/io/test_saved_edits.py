"""Saved edits read back: open_patient(path, edits=DIR), Patient.versions, unchanged saves, info and --edits."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

import lundprobe_gui as lp
from lundprobe_gui.cli import main
from lundprobe_gui.paths import demo_edits_dir


def _run(*args) -> subprocess.CompletedProcess[str]:
    """The command line, in this process (what is under test is the command, not the interpreter start-up)."""
    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def _two_versions(patient_copy, out):
    p = lp.open_patient(patient_copy, edits=False)
    dl = p.mask("CTVT_427", source="nnUNet")
    v1 = dl.copy()
    v1[2, 0:5, 0:5] = True
    p.save_mask("CTVT_427", v1, source="corrected_ann", out_dir=out, started_from="nnUNet", stats={"added_cc": 0.1})
    v2 = v1.copy()
    z = int(np.argmax(v2.sum(axis=(1, 2))))
    v2[z] = False
    p.save_mask("CTVT_427", v2, source="corrected_ann", out_dir=out, started_from="nnUNet")
    return dl, v1, v2


def test_unchanged_save_writes_nothing_and_returns_the_newest(patient_copy, tmp_path):
    out = tmp_path / "edits"
    p = lp.open_patient(patient_copy, edits=False)
    m = p.mask("CTVT_427", source="nnUNet")
    first = p.save_mask("CTVT_427", m, source="corrected_ann", out_dir=out)  # equal to its start: still written
    folder = first.parent
    before = sorted(os.listdir(folder))
    again = p.save_mask("CTVT_427", m, source="corrected_ann", out_dir=out)
    assert again == first and again.name.endswith("_v001.nii.gz")
    assert sorted(os.listdir(folder)) == before  # not a byte written
    m[2, 0:5, 0:5] = True  # outside the CTV: a real change
    assert p.save_mask("CTVT_427", m, source="corrected_ann", out_dir=out).name.endswith("_v002.nii.gz")


def test_a_damaged_newest_version_is_not_taken_as_unchanged(patient_copy, tmp_path):
    out = tmp_path / "edits"
    p = lp.open_patient(patient_copy, edits=False)
    m = p.mask("CTVT_427", source="nnUNet")
    f1 = p.save_mask("CTVT_427", m, source="corrected_ann", out_dir=out)
    f1.chmod(0o644)
    f1.write_bytes(f1.read_bytes()[:-10])  # no longer what its sidecar recorded
    f2 = p.save_mask("CTVT_427", m, source="corrected_ann", out_dir=out)
    assert f2.name.endswith("_v002.nii.gz")


def test_reopen_lists_saved_series_with_versions_and_voxels(patient_copy, tmp_path):
    out = tmp_path / "edits"
    _dl, _v1, v2 = _two_versions(patient_copy, out)
    q = lp.open_patient(patient_copy, edits=out)
    assert q.edits_dir == out
    ref = q.structure("CTVT_427", "corrected_ann")
    assert ref.version == 2 and ref.path.endswith("mask_CTVT_427_corrected_ann.nii.gz")
    assert np.array_equal(q.mask("CTVT_427", "corrected_ann"), v2)
    hist = q.versions("CTVT_427", "corrected_ann")
    assert [v.number for v in hist] == [1, 2]
    assert hist[0].started_from == "nnUNet" and hist[0].added_cc == pytest.approx(0.1)
    assert hist[1].voxels == int(v2.sum())
    assert q.versions("CTVT_427", "nnUNet") == []  # a dataset file has no history
    # without edits nothing is attached
    assert ("CTVT_427", "corrected_ann") not in lp.open_patient(patient_copy, edits=False).reference_frame.structures
    # continuing: the next save is v003 and the model follows it
    v3 = v2.copy()
    v3[3, 0:5, 0:5] = True
    f3 = q.save_mask("CTVT_427", v3, source="corrected_ann", out_dir=out)
    assert f3.name.endswith("_v003.nii.gz")
    assert q.structure("CTVT_427", "corrected_ann").version == 3
    assert [v.number for v in q.versions("CTVT_427", "corrected_ann")] == [1, 2, 3]


def test_info_json_lists_versions_and_edits_dir(patient_copy, tmp_path):
    out = tmp_path / "edits"
    _two_versions(patient_copy, out)
    r = _run("info", patient_copy, "--json", "--edits", out)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["edits_dir"] == str(out)
    saved = [s for s in d["structures"] if s["source"] == "corrected_ann"]
    assert len(saved) == 1 and saved[0]["version"] == 2
    assert all("version" not in s for s in d["structures"] if s["source"] != "corrected_ann")


def test_metrics_and_dvh_take_saved_edits_only_with_edits(patient_copy, tmp_path):
    out = tmp_path / "edits"
    dl, _v1, v2 = _two_versions(patient_copy, out)
    common = ["--json", "--scheduler", "sync", "--quiet", "--cache", tmp_path / "cache"]
    plain = json.loads(_run("metrics", patient_copy, *common).stdout)
    assert not [r for r in plain if "corrected_ann" in (r["reference"], r["test"])]
    rows = json.loads(_run("metrics", patient_copy, *common, "--edits", out).stdout)
    mine = {(r["comparison"], r["reference"]): r for r in rows if r["test"] == "corrected_ann"}
    assert set(mine) == {("start_vs_edit", "nnUNet"), ("clinical_vs_edit", "clinical")}
    want = 2 * np.logical_and(dl, v2).sum() / (dl.sum() + v2.sum())
    assert mine[("start_vs_edit", "nnUNet")]["dice"] == pytest.approx(want, abs=1e-9)
    dvh = json.loads(_run("dvh", patient_copy, *common, "--edits", out).stdout)
    got = [r for r in dvh if r["source"] == "corrected_ann" and r["frame"] == "MRI"]
    assert len(got) == 1
    p = lp.open_patient(patient_copy, edits=False)
    cc = v2.sum() * float(np.prod(p.geometry.spacing_zyx)) / 1000.0
    assert got[0]["volume_cc"] == pytest.approx(cc, rel=1e-6)


def test_demo_edits_go_to_a_data_folder_not_the_cache(demo_root, tmp_path, monkeypatch):
    monkeypatch.setenv("LUNDPROBE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LUNDPROBE_DATA", str(tmp_path / "data"))
    root = tmp_path / "cache" / "demo" / "extended-small-seed0"
    shutil.copytree(demo_root, root)
    folder = next(p for p in root.iterdir() if p.is_dir())
    assert demo_edits_dir(folder) == tmp_path / "data" / "demo_edits" / "extended-small-seed0"
    assert demo_edits_dir(tmp_path / "elsewhere" / "LUNDPROBE_0001") is None
    p = lp.open_patient(folder)
    m = p.mask("CTVT_427", source="nnUNet")
    saved = p.save_mask("CTVT_427", m, source="corrected_ann")
    assert (tmp_path / "data" / "demo_edits" / "extended-small-seed0") in saved.parents
    assert not (tmp_path / "cache" / "demo" / "lundprobe_edits").exists()
    again = lp.open_patient(folder)  # the default: the demo's data folder
    assert again.structure("CTVT_427", "corrected_ann").version == 1


def test_hostile_edits_folders_are_read_safely(patient_copy, tmp_path):
    out = tmp_path / "edits"
    _dl, _v1, _v2 = _two_versions(patient_copy, out)
    folder = next(out.rglob("observerData"))
    # a sidecar naming another series, one with a name that climbs out, and a FIFO sidecar
    good = json.loads((folder / "mask_CTVT_427_corrected_ann_v001.json").read_text())
    (folder / "mask_Rectum_x_v001.json").write_text(json.dumps({**good, "structure": "CTVT_427", "source": "other"}))
    (folder / "mask_evil_v001.json").write_text(json.dumps({**good, "structure": "../../../x", "source": "y"}))
    shutil.copy(folder / "mask_CTVT_427_corrected_ann.nii.gz", folder / "mask_CTVT_427_other.nii.gz")
    os.mkfifo(folder / "mask_Bladder_corrected_ann_v001.json")
    q = lp.open_patient(patient_copy, edits=out)
    plain = lp.open_patient(patient_copy, edits=False)
    added = {(r.name, r.source) for r in q.structures()} - {(r.name, r.source) for r in plain.structures()}
    assert added == {("CTVT_427", "corrected_ann")}
    assert [v.number for v in q.versions("CTVT_427", "corrected_ann")] == [1, 2]
    # the dataset itself given as the edits folder: nothing of it becomes a saved edit
    ds = lp.open_patient(patient_copy, edits=patient_copy.parent)
    assert not [r for r in ds.structures() if r.version is not None]
