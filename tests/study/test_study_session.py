"""An observer's session: ratings before editing, outputs, results.csv, resume, locks, washout and admin."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

import lundprobe_gui as lp
from lundprobe_gui.study import (
    ACTIVE,
    COMPLETE,
    RESULT_COLUMNS,
    WAITING,
    AdminAuth,
    AdminRequired,
    InitOptions,
    ObserverSession,
    RatingFrozen,
    RatingsIncomplete,
    SessionLocked,
    StepLocked,
    StudyError,
    authorise_admin,
    export_study,
    init_study,
    load_study,
    read_audit,
    write_results,
)

from .helpers import DAY, T0, rate_all, shave, work_case

HERE = Path(__file__).resolve().parent


# -- ratings come first ---------------------------------------------------------------------------
@pytest.mark.slow
def test_editing_needs_the_required_ratings_first(study_dir):
    s = ObserverSession(study_dir, "obsX", now=T0)
    try:
        assert s.missing_ratings(now=T0) == ["quality", "confidence"] and not s.can_edit(now=T0)
        with pytest.raises(RatingsIncomplete, match="quality, confidence"):
            s.begin_editing(now=T0 + 1)
        start = s.start_mask("CTVT_427", now=T0)
        with pytest.raises(RatingsIncomplete):
            s.save_edit(start, "CTVT_427", now=T0 + 2)
        with pytest.raises(RatingsIncomplete):
            s.finish_case(now=T0 + 3)
        s.rate("quality", 2, now=T0 + 4)
        assert s.missing_ratings(now=T0) == ["confidence"]
        with pytest.raises(RatingsIncomplete, match="confidence"):
            s.begin_editing(now=T0 + 5)
        s.rate("confidence", 5, now=T0 + 6)
        assert s.can_edit(now=T0 + 6)
        assert s.begin_editing(now=T0 + 7) == start
        # the Rectum is not rated yet: finishing is refused and nothing was written
        with pytest.raises(RatingsIncomplete, match="Rectum"):
            s.finish_case(now=T0 + 8)
        assert not list((study_dir / "output").rglob("*.nii.gz"))
        assert s.current_case(T0 + 8).status == "in_progress"
    finally:
        s.close(now=T0 + 9)


@pytest.mark.slow
def test_answers_are_validated_timestamped_and_frozen_once_editing_begins(study_dir):
    s = ObserverSession(study_dir, "obsX", now=T0)
    try:
        for bad in (0, 5, "x", True, 2.5):
            with pytest.raises(StudyError):
                s.rate("quality", bad, now=T0)
        with pytest.raises(StudyError):
            s.rate("height", 3, now=T0)
        with pytest.raises(StudyError):
            s.rate("quality", 3, structure="Bladder", now=T0)
        a = s.rate("quality", 1, now=T0 + 1)
        assert a.value == 1 and a.at == "2025-03-03T08:00:01.000+00:00"
        s.rate("quality", 3, now=T0 + 2)  # changing is allowed before editing, and kept in the history
        s.rate("confidence", 4, now=T0 + 3)
        s.begin_editing(now=T0 + 4)
        with pytest.raises(RatingFrozen):
            s.rate("quality", 4, now=T0 + 5)
        s.rate("comment", "apex too generous", now=T0 + 6)  # free text may still change
        srec = s.state.steps[1].cases[0].structures["CTVT_427"]
        assert srec.ratings["quality"].value == 3 and srec.ratings["comment"].value == "apex too generous"
        assert srec.rating_history == [
            {"question": "quality", "value": 1, "at": a.at, "replaced_at": "2025-03-03T08:00:02.000+00:00"}
        ]
    finally:
        s.close(now=T0 + 7)


# -- outputs and results.csv ----------------------------------------------------------------------
@pytest.mark.slow
def test_finished_cases_produce_dataset_named_masks_and_results_rows(study_dir, study_dataset):
    s = ObserverSession(study_dir, "obsX", now=T0)
    t = T0
    edits = {}
    first = s.current_case(t)
    patient = s.state.steps[1].cases[0].patient
    s.activity(now=t)
    t = rate_all(s, t + 1, quality=2, confidence=3, comment="bladder neck, 'quoted', and a comma")
    for name in s.structures:
        m = s.begin_editing(name, now=t)
        edits[name] = shave(m.to_full())
        s.save_edit(m, name, now=t + 1)  # a first version, unchanged
        saved = s.save_edit(edits[name], name, now=t + 5, tool="brush")
        assert saved.version_file.name == f"mask_{name}_step1_obsX_v002.nii.gz"
        t += 10
    s.finish_case(now=t)
    assert s.current_case(t).position == 2 and s.progress(t).text == "Case 2 of 3"
    s.close(now=t)

    folder = study_dir / "output" / patient / "MR_StorT2" / "observerData"
    mri = study_dataset / patient / "MR_StorT2" / "image.nii.gz"
    start = lp.open_patient(study_dataset / patient)
    for name in ("CTVT_427", "Rectum"):
        f = folder / f"mask_{name}_step1_obsX.nii.gz"
        assert f.is_file() and (folder / f"mask_{name}_step1_obsX_v001.nii.gz").is_file()
        assert f.read_bytes() == (folder / f"mask_{name}_step1_obsX_v002.nii.gz").read_bytes()
        a, b = nib.load(str(f)), nib.load(str(mri))
        assert np.array_equal(a.affine, b.affine) and a.shape == b.shape and a.get_data_dtype() == np.uint8
        img, ref = sitk.ReadImage(str(f)), sitk.ReadImage(str(mri))
        assert (img.GetOrigin(), img.GetSpacing(), img.GetDirection()) == (
            ref.GetOrigin(),
            ref.GetSpacing(),
            ref.GetDirection(),
        )
        assert np.array_equal(sitk.GetArrayFromImage(img).astype(bool), edits[name])
        side = json.loads((folder / f"mask_{name}_step1_obsX_v002.json").read_text())
        assert side["user"] == "obsX" and side["tool"] == "brush" and side["source"] == "step1_obsX"
        assert side["pseudonym"] == first.pseudonym and side["study_step"] == 1
    assert not [p for p in (study_dir / "output").rglob("*") if "obsY" in p.name]

    rep = export_study(study_dir)
    with open(study_dir / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(study_dir / "results.csv", newline="") as fh:
        assert next(csv.reader(fh)) == list(RESULT_COLUMNS)
    assert len(rows) == 2 * 2 * 3 * 2  # observers x steps x patients x structures
    mine = [r for r in rows if r["observer"] == "obsX" and r["step"] == "1" and r["patient"] == patient]
    assert [r["structure"] for r in mine] == ["CTVT_427", "Rectum"]
    for r in mine:
        name = r["structure"]
        dl = start.mask(name, source="nnUNet")
        f = folder / f"mask_{name}_step1_obsX.nii.gz"
        assert r["pseudonym"] == "Case 01"
        assert (r["quality"], r["confidence"]) == ("2", "3")
        assert r["comment"] == "bladder neck, 'quoted', and a comma"
        assert r["start_mask"] == "nnUNet"
        assert r["output_file"] == f"output/{patient}/MR_StorT2/observerData/mask_{name}_step1_obsX.nii.gz"
        assert r["output_sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
        assert int(r["voxels_added"]) == int((edits[name] & ~dl).sum()) == 1
        assert int(r["voxels_removed"]) == int((dl & ~edits[name]).sum()) > 0
        assert r["finished_at"] == "2025-03-03T08:00:27.000+00:00"
        assert r["started_at"] and r["started_at"] <= r["finished_at"]
        assert float(r["active_seconds"]) > 0
    assert float(mine[0]["active_seconds"]) + float(mine[1]["active_seconds"]) == pytest.approx(27.0)
    others = [r for r in rows if r not in mine]
    assert all(r["finished_at"] == "" and r["output_file"] == "" and r["quality"] == "" for r in others)
    # the export mirrors the dataset's observerData
    exported = sorted(p.relative_to(rep.export_dir).as_posix() for p in rep.copied)
    assert exported == [f"{patient}/MR_StorT2/observerData/mask_{n}_step1_obsX.nii.gz" for n in ("CTVT_427", "Rectum")]
    assert (rep.export_dir / exported[0]).read_bytes() == (folder / "mask_CTVT_427_step1_obsX.nii.gz").read_bytes()
    assert (rep.export_dir / "results.csv").read_bytes() == (study_dir / "results.csv").read_bytes()


@pytest.mark.slow
def test_structures_accepted_unchanged_are_saved_as_the_start_mask(study_dir, study_dataset):
    s = ObserverSession(study_dir, "obsY", now=T0)
    patient = s.state.steps[1].cases[0].patient
    t = rate_all(s, T0)
    s.finish_case(now=t)
    s.close(now=t)
    dl = lp.open_patient(study_dataset / patient).mask("Rectum", source="nnUNet")
    f = study_dir / "output" / patient / "MR_StorT2" / "observerData" / "mask_Rectum_step1_obsY.nii.gz"
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(f))).astype(bool), dl)
    with open(export_study(study_dir).results_csv, newline="") as fh:
        row = next(
            r
            for r in csv.DictReader(fh)
            if r["observer"] == "obsY" and r["patient"] == patient and r["structure"] == "Rectum"
        )
    assert (row["voxels_added"], row["voxels_removed"]) == ("0", "0")


# -- resume -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_resume_after_quit_continues_at_the_same_case_and_structure(study_dir):
    s = ObserverSession(study_dir, "obsX", now=T0)
    t = work_case(s, T0)
    s.select_structure("Rectum", now=t)
    s.rate("quality", 4, now=t + 1)
    view = s.current_case(t + 1)
    s.close(now=t + 2)
    s2 = ObserverSession(study_dir, "obsX", now=t + 100)
    try:
        again = s2.current_case(t + 100)
        assert (again.step, again.pseudonym, again.active_structure) == (view.step, view.pseudonym, "Rectum")
        assert s2.ratings("Rectum", now=t + 100)["quality"].value == 4
        assert s2.missing_ratings("Rectum", now=t + 100) == ["confidence"]
        assert s2.progress(t + 100).text == "Case 2 of 3"
    finally:
        s2.close(now=t + 101)


@pytest.mark.slow
def test_resume_after_a_crash_recovers_the_stale_lock(study_dir):
    # the worker crashes (os._exit, no clean-up) after 5 acknowledged actions, leaving its lock behind
    r = subprocess.run(
        [sys.executable, str(HERE / "worker_session.py"), str(study_dir), "obsX", str(T0), "--crash-after", "5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 3, r.stderr
    acks = [json.loads(line[4:]) for line in r.stdout.splitlines() if line.startswith("ACK ")]
    assert len(acks) == 5 and (study_dir / "sessions" / "obsX.lock").exists()
    s = ObserverSession(study_dir, "obsX", now=T0 + 1000)
    try:
        view = s.current_case(T0 + 1000)
        last = acks[-1]
        assert (view.pseudonym, view.active_structure) == (last["pseudonym"], last["structure"])
        rated = [a for a in acks if a["kind"] == "rating"]
        assert rated
        for a in rated:
            assert s.ratings(a["structure"], now=T0 + 1000)[a["question"]].value == a["value"]
        assert "stale_lock_recovered" in [e["event"] for e in read_audit(study_dir)]
    finally:
        s.close(now=T0 + 1001)


# -- locks --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_second_live_session_of_the_same_observer_is_refused(study_dir):
    s = ObserverSession(study_dir, "obsX", now=T0)
    try:
        with pytest.raises(SessionLocked, match="already has an open session"):
            ObserverSession(study_dir, "obsX", now=T0)
        other = ObserverSession(study_dir, "obsY", now=T0)  # another observer is independent
        other.close(now=T0)
    finally:
        s.close(now=T0)
    ObserverSession(study_dir, "obsX", now=T0).close(now=T0)  # released on close


def _write_lock(study_dir: Path, observer: str, **fields) -> Path:
    path = study_dir / "sessions" / f"{observer}.lock"
    info = {
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
        "started_at": "2025-03-01T00:00:00+00:00",
        "purpose": "session",
        "token": "t0k3n",
        "pid_start": None,
        **fields,
    }
    path.write_text(json.dumps(info))
    return path


@pytest.mark.slow
def test_stale_locks_are_recovered_and_logged(study_dir):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _write_lock(study_dir, "obsX", pid=dead.pid)
    s = ObserverSession(study_dir, "obsX", now=T0)
    s.close(now=T0)
    entries = [e for e in read_audit(study_dir) if e["event"] == "stale_lock_recovered"]
    assert len(entries) == 1 and entries[0]["stale_lock"]["pid"] == dead.pid and entries[0]["observer"] == "obsX"
    # a live pid whose process started at another time is a reused pid: stale too
    _write_lock(study_dir, "obsX", pid=os.getpid(), pid_start="1")
    ObserverSession(study_dir, "obsX", now=T0).close(now=T0)
    assert len([e for e in read_audit(study_dir) if e["event"] == "stale_lock_recovered"]) == 2


@pytest.mark.slow
def test_live_and_foreign_locks_are_refused(study_dir):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = _write_lock(study_dir, "obsX", pid=live.pid)
        with pytest.raises(SessionLocked, match=f"pid {live.pid}"):
            ObserverSession(study_dir, "obsX", now=T0)
        assert path.exists()
    finally:
        live.kill()
        live.wait()
    _write_lock(study_dir, "obsX", hostname="another-host.example", pid=1)
    with pytest.raises(SessionLocked, match=r"another-host\.example"):
        ObserverSession(study_dir, "obsX", now=T0)
    (study_dir / "sessions" / "obsX.lock").write_text("{garbage")
    with pytest.raises(SessionLocked, match="cannot be read"):
        ObserverSession(study_dir, "obsX", now=T0)


@pytest.mark.slow
def test_corrupt_session_file_is_reported_and_kept(study_dir):
    ObserverSession(study_dir, "obsX", now=T0).close(now=T0)
    path = study_dir / "sessions" / "obsX.json"
    path.write_text(path.read_text()[:200])
    before = path.read_bytes()
    with pytest.raises(StudyError, match="not valid JSON"):
        ObserverSession(study_dir, "obsX", now=T0)
    assert path.read_bytes() == before and not (study_dir / "sessions" / "obsX.lock").exists()


@pytest.mark.slow
def test_unknown_or_unsafe_observers_cannot_open_a_session(study_dir):
    for obs in ("obsZ", "../obsX", "obs X"):
        with pytest.raises(StudyError):
            ObserverSession(study_dir, obs, now=T0)


# -- washout --------------------------------------------------------------------------------------
def _finish_step1(study_dir: Path, observer: str = "obsX") -> float:
    s = ObserverSession(study_dir, observer, now=T0)
    t = T0
    for _ in range(3):
        t = work_case(s, t)
    s.close(now=t)
    return t - 1  # the time of the last finish


@pytest.mark.slow
def test_step2_is_locked_until_the_washout_has_passed(study_dir):
    done = _finish_step1(study_dir)
    s = ObserverSession(study_dir, "obsX", now=done + DAY)
    try:
        assert s.status(done + 27 * DAY) == WAITING and s.current_case(done + 27 * DAY) is None
        p = s.progress(done + 27 * DAY)
        assert p.step == 2 and "Step 2 opens on" in p.text
        with pytest.raises(StepLocked, match="washout of 28 days"):
            s.rate("quality", 3, now=done + 27 * DAY)
        assert s.status(done + 28 * DAY - 1) == WAITING
        assert s.status(done + 28 * DAY) == ACTIVE
        view = s.current_case(done + 28 * DAY)
        assert (view.step, view.position) == (2, 1)
        assert s.visibility(done + 28 * DAY).uncertainty_allowed
        assert s.target_source == "step2_obsX"
        t = done + 28 * DAY
        for _ in range(3):
            t = work_case(s, t)
        assert s.status(t) == COMPLETE and s.progress(t).text == "All steps are finished"
    finally:
        s.close(now=done + 40 * DAY)
    events = [e["event"] for e in read_audit(study_dir)]
    assert events.count("step_completed") == 2 and events.count("case_finished") == 6


@pytest.mark.slow
def test_the_washout_can_be_overridden_by_the_admin_only_and_is_logged(study_dir):
    done = _finish_step1(study_dir)
    study = load_study(study_dir)
    with pytest.raises(AdminRequired, match="--admin"):
        authorise_admin(study, study_dir)  # no PIN in this study and no --admin flag
    s = ObserverSession(study_dir, "obsX", now=done + DAY)
    try:
        with pytest.raises(StudyError):
            s.override_washout("please", now=done + DAY)  # type: ignore[arg-type]
        assert s.status(done + DAY) == WAITING
        auth = authorise_admin(study, study_dir, cli_flag=True, by="dr-admin")
        assert s.override_washout(auth, reason="observer leaves", now=done + DAY) == 2
        assert s.status(done + DAY) == ACTIVE and s.current_case(done + DAY).step == 2
    finally:
        s.close(now=done + DAY)
    e = [e for e in read_audit(study_dir) if e["event"] == "washout_overridden"]
    assert (
        len(e) == 1 and e[0]["observer"] == "obsX" and e[0]["by"] == "dr-admin" and e[0]["reason"] == "observer leaves"
    )


# -- unlocking finished cases -----------------------------------------------------------------------
@pytest.mark.slow
def test_unlocking_a_finished_case_needs_the_admin_pin_and_is_logged(study_dataset, tmp_path):
    d = tmp_path / "s"
    init_study(d, InitOptions(dataset_root=study_dataset, observers=["obsX"], seed=3, admin_pin="s3cret-pin"), now=T0)
    study = load_study(d)
    s = ObserverSession(d, "obsX", now=T0)
    try:
        t = work_case(s, T0)
        assert s.current_case(t).pseudonym == "Case 02"
        with pytest.raises(AdminRequired):
            authorise_admin(study, d, pin="guess", cli_flag=True)  # with a PIN set, --admin alone is not enough
        with pytest.raises(StudyError):
            s.unlock_case("Case 01", AdminAuth, now=t)  # type: ignore[arg-type]
        with pytest.raises(StudyError, match="not finished"):
            s.unlock_case("Case 02", authorise_admin(study, d, pin="s3cret-pin"), now=t)
        auth = authorise_admin(study, d, pin="s3cret-pin", by="admin1")
        s.unlock_case("Case 01", auth, reason="missed the base", now=t + 1)
        view = s.current_case(t + 1)
        assert view.pseudonym == "Case 01" and view.status == "in_progress"
        assert s.ratings("CTVT_427", now=t + 1)["quality"].value == 3  # kept
        t += 2
        s.finish_case(now=t)  # ratings are complete and edits saved: it can be finished again
        assert s.current_case(t).pseudonym == "Case 02"
        case = s.state.steps[1].cases[0]
        assert case.status == "finished" and case.unlocks[0]["by"] == "admin1"
        assert case.unlocks[0]["reason"] == "missed the base"
    finally:
        s.close(now=T0 + 500)
    events = read_audit(d)
    refused = [e for e in events if e["event"] == "admin_refused"]
    unlocked = [e for e in events if e["event"] == "case_unlocked"]
    assert len(refused) == 1
    assert len(unlocked) == 1 and unlocked[0]["pseudonym"] == "Case 01" and unlocked[0]["method"] == "pin"


@pytest.mark.slow
def test_unlock_accepts_case_numbers_and_asks_for_the_step_when_ambiguous(study_dir):
    done = _finish_step1(study_dir)
    auth = authorise_admin(load_study(study_dir), study_dir, cli_flag=True)
    s = ObserverSession(study_dir, "obsX", now=done + 30 * DAY)
    try:
        t = work_case(s, done + 30 * DAY)  # step 2, Case 01 finished too
        with pytest.raises(StudyError, match="say which step"):
            s.unlock_case("Case 01", auth, now=t)
        # only step 1 has Case 03 finished; the observer has started step 2, so it takes --force
        with pytest.raises(StudyError, match="without --force"):
            s.unlock_case("3", auth, now=t)
        s.unlock_case("3", auth, now=t, force=True)
        assert s.current_case(t).step == 1 and s.current_case(t).pseudonym == "Case 03"
        case = next(c for c in s.state.steps[1].cases if c.pseudonym == "Case 03")
        assert case.unlocks[-1]["after_step"] == 2 and case.unlocks[-1]["forced"]
    finally:
        s.close(now=done + 31 * DAY)
    write_results(study_dir)
    with open(study_dir / "results.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["observer"] == "obsX" and r["step"] == "1"]
    flagged = {r["pseudonym"] for r in rows if r["reopened_after_step"] == "2"}
    assert flagged == {"Case 03"} and all(r["unlocks"] == ("1" if r["pseudonym"] == "Case 03" else "0") for r in rows)


# -- recovery of interrupted writes -----------------------------------------------------------------
@pytest.mark.slow
def test_resume_removes_own_interrupted_writes_and_restores_the_recorded_version(study_dir):
    s = ObserverSession(study_dir, "obsX", now=T0)
    t = rate_all(s, T0)
    m = s.begin_editing("CTVT_427", now=t)
    saved = s.save_edit(shave(m.to_full()), "CTVT_427", now=t + 1)
    s.close(now=t + 2)
    folder = saved.version_file.parent
    ours = [
        folder / ".mask_CTVT_427_step1_obsX_v002.nii.gz.abc123.part",
        study_dir / "sessions" / ".obsX.json.x1y2.part",
        study_dir / "sessions" / ".obsX.lock.stale-0a1b",
    ]
    theirs = [
        folder / ".mask_CTVT_427_step1_obsY_v001.nii.gz.zz.part",
        study_dir / "sessions" / ".obsY.json.q.part",
        folder / ".mask_CTVT_427_step1_obsXY_v001.nii.gz.zz.part",
    ]
    for p in ours + theirs:
        p.write_bytes(b"half")
    # a version written after the last acknowledged save: the plain copy ran ahead of the state
    saved.output_file.write_bytes(b"not the recorded version")
    s = ObserverSession(study_dir, "obsX", now=t + 10)
    s.close(now=t + 10)
    assert not any(p.exists() for p in ours) and all(p.exists() for p in theirs)
    assert saved.output_file.read_bytes() == saved.version_file.read_bytes()
    assert hashlib.sha256(saved.output_file.read_bytes()).hexdigest() == saved.sha256
