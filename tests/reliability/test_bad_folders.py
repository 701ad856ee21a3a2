"""8 and 17. One bad file or folder is a Problem naming it, or a one-line error (exit 2), never a traceback and
never structures that vanish silently; dataset runs report a bad patient as failed and go on; ``study init``
names each left-out patient with its real reason.

Unreadable folders are made for real where the test can drop the capabilities that let root read anything
(``setpriv``), and simulated in-process otherwise (root ignores permission bits).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys

import pytest

import lundprobe_gui as lp
from lundprobe_gui.batch import resolve_patients, run_batch
from lundprobe_gui.metrics import analyses
from lundprobe_gui.study import CorruptStudyFile, InitOptions, ObserverSession, StudyError, init_study, study_status

from .helpers import subprocess_env, tiny_patient

T0 = 1_740_988_800.0
FOLDERS = ["MR_StorT2", "MR_StorT2/nnUNetOutput", "MR_StorT2/observerData"]


@pytest.fixture()
def root(tmp_path):
    for i in (1, 2):
        tiny_patient(tmp_path, patient_id=f"LUNDPROBE_000{i}")
    return tmp_path / "ds"


def _deny(monkeypatch, *folders):
    """Make listing these folders fail as it does without read permission."""
    denied = {os.path.abspath(f) for f in folders}
    real_scandir, real_listdir = os.scandir, os.listdir

    def check(path):
        if os.path.abspath(os.fsdecode(path)) in denied:
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))

    def scandir(path="."):
        check(path)
        return real_scandir(path)

    def listdir(path="."):
        check(path)
        return real_listdir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "listdir", listdir)


@pytest.mark.parametrize("sub", FOLDERS)
def test_an_unreadable_folder_is_a_problem_naming_it(root, sub, monkeypatch, figures):
    pat = root / "LUNDPROBE_0001"
    _deny(monkeypatch, pat / sub)
    if sub == "MR_StorT2":  # the tiny patient has no sCT: nothing is left to show, a one-line error names the folder
        with pytest.raises(lp.NoImageError, match="MR_StorT2: cannot read the folder"):
            lp.open_patient(pat)
        (pat / "sCT").mkdir()
        shutil.copy(pat / "MR_StorT2" / "image.nii.gz", pat / "sCT" / "image.nii.gz")
    p = lp.open_patient(pat)
    probs = [x for x in p.problems if x.kind == "unreadable"]
    assert [x.path for x in probs] == [str(pat / sub)], p.problems
    assert "cannot read the folder" in probs[0].message
    if sub == "MR_StorT2":
        assert "MRI" not in p.frames and not [x for x in p.problems if x.kind == "missing"]
    else:  # what is readable is all there
        assert ("Bladder", "clinical") in p.frames["MRI"].structures
    figures["message"] = probs[0].message


def test_an_unreadable_patient_folder_is_one_line(root, monkeypatch):
    _deny(monkeypatch, root / "LUNDPROBE_0001")
    with pytest.raises(lp.NoImageError, match="cannot read the folder"):
        lp.open_patient(root / "LUNDPROBE_0001")


def test_a_dataset_run_reports_an_unreadable_patient_and_goes_on(root, monkeypatch):
    _deny(monkeypatch, root / "LUNDPROBE_0001")
    paths = resolve_patients(root)
    assert root / "LUNDPROBE_0001" in paths  # named, not silently left out
    first, second = run_batch(paths, [analyses.DvhAnalysis()], scheduler="sync")
    assert first.failed and "cannot read the folder" in first.reason
    assert not second.failed and second.outcomes["dvh"].rows


@pytest.mark.parametrize("run", ["metrics", "dvh", "uncertainty_edits"])
def test_a_patient_that_fails_part_way_fails_alone(root, monkeypatch, run):
    name = {"metrics": "compare_patient", "dvh": "patient_dvhs", "uncertainty_edits": "patient_edit_rows"}[run]
    analysis = {
        "metrics": analyses.MetricsAnalysis,
        "dvh": analyses.DvhAnalysis,
        "uncertainty_edits": analyses.EditsAnalysis,
    }
    real = getattr(analyses, name)

    def flaky(patient, *a, **k):
        if patient.id == "LUNDPROBE_0001":
            raise OSError(errno.EIO, "Input/output error")
        return real(patient, *a, **k)

    monkeypatch.setattr(analyses, name, flaky)
    first, second = run_batch(resolve_patients(root), [analysis[run]()], scheduler="sync")
    assert first.failed and first.reason.startswith("OSError") and "Input/output error" in first.reason
    assert not second.failed and second.patient_id == "LUNDPROBE_0002"


def _as_user(args):
    """Run the command line without the capabilities that let root read any file."""
    drop = "-dac_override,-dac_read_search"
    cmd = ["setpriv", "--bounding-set", drop, "--inh-caps", drop, sys.executable, "-m", "lundprobe_gui", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=subprocess_env())


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
@pytest.mark.parametrize("mode", [0o000, 0o400, 0o100])
@pytest.mark.slow
def test_really_unreadable_folders_on_the_command_line(root, mode, figures):
    pat = root / "LUNDPROBE_0001"
    os.chmod(pat / "MR_StorT2" / "observerData", mode)
    os.chmod(root / "LUNDPROBE_0002", mode)
    try:
        info = _as_user(["info", str(pat), "--json"])
        dvh = _as_user(["dvh", str(root), "--scheduler", "sync"])  # not --quiet: that silences the warning looked for
        one = _as_user(["info", str(root / "LUNDPROBE_0002")])
    finally:
        os.chmod(pat / "MR_StorT2" / "observerData", 0o755)
        os.chmod(root / "LUNDPROBE_0002", 0o755)
    if "Operation not permitted" in info.stderr:
        pytest.skip("setpriv may not drop capabilities here")
    assert info.returncode == 0, info.stderr
    probs = json.loads(info.stdout)["problems"]
    assert [x["path"] for x in probs if x["kind"] == "unreadable"] == [str(pat / "MR_StorT2" / "observerData")]
    assert dvh.returncode == 1 and "Traceback" not in dvh.stderr  # 1: a patient failed, the others gave their rows
    assert "error: LUNDPROBE_0002: " in dvh.stderr and "cannot read the folder" in dvh.stderr
    assert "LUNDPROBE_0001" in dvh.stdout
    assert one.returncode == 2 and len(one.stderr.strip().splitlines()) == 1 and "cannot read the folder" in one.stderr
    figures[f"mode_{mode:o}"] = one.stderr.strip()


# -- an unparseable date in a session ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field,value",
    [("completed_at", "next tuesday"), ("completed_at", "99999-01-01T00:00:00"), ("created_at", 12), ("at", "\x00")],
)
@pytest.mark.slow
def test_a_session_with_an_unparseable_time_is_a_clear_error(tmp_path, field, value):
    tiny_patient(tmp_path, patient_id="LUNDPROBE_0433")
    study = tmp_path / "study"
    init_study(study, InitOptions(dataset_root=tmp_path / "ds", observers=["obsX"], seed=1), now=T0)
    with ObserverSession(study, "obsX", now=T0 + 1) as s:
        s.rate("quality", 3, structure=s.structures[0], now=T0 + 2)
    path = study / "sessions" / "obsX.json"
    data = json.loads(path.read_text())
    if field == "created_at":
        data["created_at"] = value
    elif field == "at":
        ratings = data["steps"][0]["cases"][0]["structures"]
        next(iter(ratings.values()))["ratings"]["quality"]["at"] = value
    else:
        data["steps"][0][field] = value
    path.write_text(json.dumps(data))
    with pytest.raises(CorruptStudyFile, match=r"obsX\.json"):
        ObserverSession(study, "obsX", now=T0 + 3)
    with pytest.raises(StudyError):
        study_status(study)
    r = subprocess.run(
        [sys.executable, "-m", "lundprobe_gui", "study", "status", str(study)],
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(),
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and "obsX.json" in r.stderr


# -- 17. study init: the real reason of each left-out patient ---------------------------------------------------
@pytest.mark.slow
def test_study_init_names_each_left_out_patient_with_its_reason(tmp_path, monkeypatch):
    for i in range(1, 6):
        tiny_patient(tmp_path, patient_id=f"LUNDPROBE_000{i}")
    ds = tmp_path / "ds"
    shutil.rmtree(ds / "LUNDPROBE_0002" / "MR_StorT2" / "nnUNetOutput")  # base part
    (ds / "LUNDPROBE_0003" / "MR_StorT2" / "nnUNetOutput" / "mask_Rectum_nnUNet.nii.gz").unlink()
    cut = ds / "LUNDPROBE_0004" / "MR_StorT2" / "nnUNetOutput" / "mask_CTVT_427_nnUNet.nii.gz"
    cut.write_bytes(cut.read_bytes()[:40])
    _deny(monkeypatch, ds / "LUNDPROBE_0005")
    opts = InitOptions(dataset_root=ds, observers=["obsX"], seed=1)
    init_study(tmp_path / "study", opts, now=T0)
    notes = {n.split(" ", 1)[0]: n for n in opts.notes}
    assert set(notes) == {"LUNDPROBE_0002", "LUNDPROBE_0003", "LUNDPROBE_0004", "LUNDPROBE_0005"}
    assert "nnUNetOutput folder" in notes["LUNDPROBE_0002"]
    assert "no nnUNet mask for Rectum" in notes["LUNDPROBE_0003"]
    assert "mask of CTVT_427 is unusable" in notes["LUNDPROBE_0004"] and cut.name in notes["LUNDPROBE_0004"]
    assert "cannot read the folder" in notes["LUNDPROBE_0005"]
    with pytest.raises(StudyError, match="LUNDPROBE_0003: no nnUNet mask for Rectum"):
        init_study(tmp_path / "study2", InitOptions(dataset_root=ds, observers=["obsX"], patients=["LUNDPROBE_0003"]))


def test_study_init_names_malformed_images_and_masks_with_their_diagnosis(tmp_path):
    import gzip

    import nibabel as nib
    import numpy as np

    for i in range(1, 6):
        tiny_patient(tmp_path, patient_id=f"LUNDPROBE_000{i}")
    ds = tmp_path / "ds"
    nn = "MR_StorT2/nnUNetOutput/mask_CTVT_427_nnUNet"
    # 1: the start mask as an Analyze pair (nothing else of that name)
    src = nib.load(ds / "LUNDPROBE_0001" / f"{nn}.nii.gz")
    nib.save(nib.AnalyzeImage(np.asarray(src.dataobj), src.affine), ds / "LUNDPROBE_0001" / f"{nn}.hdr")
    (ds / "LUNDPROBE_0001" / f"{nn}.nii.gz").unlink()
    # 2: the MRI image cut short; 3: the MRI image 4-D
    image = ds / "LUNDPROBE_0002" / "MR_StorT2" / "image.nii.gz"
    raw = gzip.decompress(image.read_bytes())
    image.write_bytes(gzip.compress(raw)[: len(gzip.compress(raw)) // 2])
    image = ds / "LUNDPROBE_0003" / "MR_StorT2" / "image.nii.gz"
    img = nib.load(image)
    data = np.asarray(img.dataobj)
    nib.save(nib.Nifti1Image(np.stack([data, data], -1), img.affine, img.header), image)
    # 4: gzip data named .nii
    gz = ds / "LUNDPROBE_0004" / f"{nn}.nii.gz"
    gz.rename(gz.with_name(gz.name[: -len(".gz")]))
    opts = InitOptions(dataset_root=ds, observers=["obsX"], seed=1)
    init_study(tmp_path / "study", opts, now=T0)
    notes = {n.split(" ", 1)[0]: n for n in opts.notes}
    assert set(notes) == {f"LUNDPROBE_000{i}" for i in range(1, 5)}  # 5 is clean and takes part
    assert "mask_CTVT_427_nnUNet.hdr: an Analyze 7.5 .hdr/.img pair; not supported" in notes["LUNDPROBE_0001"]
    assert "no usable MRI image" in notes["LUNDPROBE_0002"] and "truncated" in notes["LUNDPROBE_0002"]
    assert "no usable MRI image" in notes["LUNDPROBE_0003"] and "4-D image (2 volumes" in notes["LUNDPROBE_0003"]
    assert "gzip-compressed data in a file named .nii" in notes["LUNDPROBE_0004"]
    # the same diagnoses reach the user of the patient itself
    p = lp.open_patient(ds / "LUNDPROBE_0001")
    assert [q.kind for q in p.problems if q.path.endswith("mask_CTVT_427_nnUNet.hdr")] == ["unsupported"]
    assert not [q for q in p.problems if q.path.endswith(".img")]  # the pair is one problem
