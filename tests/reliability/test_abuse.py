"""5. Abuse: hostile names, symlinks that lead out of the output folder, two instances on one study.

* Observer, structure, source and patient names that try path traversal (``../``, absolute paths,
  NUL, very long names, reserved Windows device names) are refused by ``save_mask``, ``study
  init``, ``ObserverSession`` and ``review init``, and nothing is written.
* A session file edited to point its outputs outside the study is refused, not followed.
* Symlinks in an output folder (a folder or a final file name) that lead outside are never
  written through.
* A second session on the same study (another process) is refused; the lock of a killed process
  is taken over, and that is logged.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import lundprobe_gui as lp
from lundprobe_gui.core.names import InvalidName
from lundprobe_gui.review import ReviewError, ReviewSession, init_review
from lundprobe_gui.study import (
    CorruptStudyFile,
    InitOptions,
    ObserverSession,
    SessionLocked,
    StudyError,
    export_study,
    init_study,
)
from lundprobe_gui.study.audit import read_audit

from .helpers import snapshot, subprocess_env, tiny_patient

T0 = 1_740_988_800.0
HOSTILE = [
    "../evil",
    "..",
    ".",
    "../../etc/passwd",
    "/abs",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "..\\..\\x",
    "x\x00y",
    "\x00",
    "a" * 65,
    "a" * 4096,
    "",
    " ",
    "tab\there",
    "new\nline",
    "CON",
    "con",
    "Con.nii",
    "AUX",
    "PRN",
    "NUL",
    "nul.txt",
    "COM1",
    "COM0",
    "LPT1",
    "lpt9",
    "LPT0",
    "CONIN$",
    "x:y",
    "C:",
    "*",
    "a?b",
    "<x>",
    "|",
    '"q"',
    ".hidden",
    "trailing.",
    "\u2024\u2024",
    "\uff0e\uff0e",
    "\u202e",
    "名前",
    "\udcff",
    "é",
]
# Letters of other alphabets are good structure names (``Blåsa``), but sources and observer IDs stay ASCII.
ASCII_ONLY = {"名前", "é"}


@pytest.fixture()
def patient(tiny_root, tmp_path):
    import shutil

    shutil.copytree(tiny_root, tmp_path / "ds")
    return lp.open_patient(tmp_path / "ds" / "LUNDPROBE_0001")


# -- names ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", HOSTILE, ids=[repr(h)[:24] for h in HOSTILE])
@pytest.mark.slow
def test_hostile_structure_and_source_names_are_refused(patient, tmp_path, bad):
    m = patient.mask_obj("Bladder")
    out = tmp_path / "out"
    if bad in ASCII_ONLY:
        saved = patient.save_mask(bad, m, source="step1_obsF", out_dir=tmp_path / "allowed")
        assert saved.parent == tmp_path / "allowed" / "LUNDPROBE_0001" / "MR_StorT2" / "observerData"
    else:
        with pytest.raises(InvalidName):
            patient.save_mask(bad, m, source="step1_obsF", out_dir=out)
    with pytest.raises(InvalidName):
        patient.save_mask("Bladder", m, source=bad, out_dir=out)
    assert not [p for p in out.rglob("*") if p.is_file() and "_v0" in p.name]


_written: list[str] = []


# any text, and names that look almost right (dots, '..', trailing dots, 65+ characters, device names)
NAMES = (
    st.text(min_size=0, max_size=80)
    | st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_+.\-]{0,70}\Z")
    | st.sampled_from(["CON", "com0", "Lpt9.nii", "a..b", "ok.", "ok"])
)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=NAMES, source=NAMES | st.sampled_from(["step1_obsF", "nnUNet_fold_1"]))
@example(name="Blåsa (L)", source="step1_obsF")  # a good name: the test fails if every name were refused
def _any_name_stays_inside(patient, out, name, source):
    try:
        path = patient.save_mask(name, patient.mask_obj("Bladder"), source=source, out_dir=out)
    except InvalidName:
        return
    _written.append(name)
    folder = (out / patient.id / "MR_StorT2" / "observerData").resolve()
    assert path.resolve().parent == folder
    assert path.name.startswith(f"mask_{name}_{source}_v") and path.name.endswith(".nii.gz")
    assert all(c.isascii() and (c.isalnum() or c in "_-") for c in source)
    # structure names may use any alphabet, in NFC, without controls, format (bidi) characters or odd spaces
    assert unicodedata.normalize("NFC", name) == name
    assert all(c.isalnum() or unicodedata.category(c)[0] == "M" or c in "_-+.,() " for c in name)


@pytest.mark.slow
def test_any_name_is_refused_or_stays_inside_the_output_folder(patient, tmp_path, figures):
    out = tmp_path / "out"
    _written.clear()
    _any_name_stays_inside(patient, out)
    inside = out.resolve()
    for p in tmp_path.rglob("*"):  # nothing anywhere else
        assert (
            p.resolve() == inside
            or inside in p.resolve().parents
            or p.resolve() == (tmp_path / "ds").resolve()
            or (tmp_path / "ds").resolve() in p.resolve().parents
        ), p
    assert "Blåsa (L)" in _written
    figures["names_generated"] = 150
    figures["names_accepted"] = len(_written)


@pytest.mark.parametrize(
    "bad", ["../evil", "/abs", "a/b", "x\x00y", "a" * 65, "CON", "AUX", "LPT1", "", "obs B", "trailing."]
)
@pytest.mark.slow
def test_study_init_refuses_hostile_observers_structures_and_patients(tiny_root, tmp_path, bad):
    for opts in (
        InitOptions(dataset_root=tiny_root, observers=["obsX", bad]),
        InitOptions(dataset_root=tiny_root, observers=["obsX"], structures=["CTVT_427", bad]),
        InitOptions(dataset_root=tiny_root, observers=["obsX"], patients=[bad]),
    ):
        study = tmp_path / "study"
        with pytest.raises(StudyError):
            init_study(study, opts, now=T0)
        assert not study.exists() or not any(study.iterdir()), "init refused but wrote something"


@pytest.fixture()
def study(tmp_path):
    for i in range(2):
        tiny_patient(tmp_path, patient_id=f"LUNDPROBE_{433 + i:04d}")
    d = tmp_path / "study"
    init_study(d, InitOptions(dataset_root=tmp_path / "ds", observers=["obsX", "obsY"], seed=3), now=T0)
    return d


@pytest.mark.parametrize("bad", ["../obsX", "obsX/../obsY", "/tmp/obsX", "obsX\x00", "CON", "a" * 200, "obsZ"])
@pytest.mark.slow
def test_a_session_refuses_hostile_observer_ids(study, bad):
    before = snapshot(study)
    with pytest.raises(StudyError):
        ObserverSession(study, bad, now=T0 + 1)
    assert snapshot(study) == before


@pytest.mark.parametrize("bad", ["../evil", "/abs", "a/b", "x\x00y", "CON", "LPT1", "a" * 65, ""])
@pytest.mark.slow
def test_review_init_refuses_hostile_reviewer_ids(tiny_root, tmp_path, bad):
    review = tmp_path / "review"
    with pytest.raises(InvalidName):
        init_review(review, tiny_root, bad)
    assert not review.exists()
    with pytest.raises(ReviewError):  # as a case ID: not a case of the dataset
        init_review(review, tiny_root, "rev1", cases=[bad or "x"])
    assert not review.exists()


@pytest.mark.parametrize("field", ["output_file", "output_version"])
@pytest.mark.parametrize(
    "target",
    ["output/../../outside/evil.nii.gz", "{abs}/outside/evil.nii.gz", "../outside/x.nii.gz", "sessions/obsX.json"],
)
@pytest.mark.slow
def test_a_tampered_session_file_cannot_point_outside_the_output(study, tmp_path, field, target):
    (tmp_path / "outside").mkdir()
    target = target.format(abs=tmp_path)  # an absolute path (inside this test's folder)
    with ObserverSession(study, "obsX", now=T0 + 1) as s:
        for name in s.structures:
            s.rate("quality", 3, structure=name, now=T0 + 2)
            s.rate("confidence", 3, structure=name, now=T0 + 2)
        s.save_edit(s.begin_editing("CTVT_427", now=T0 + 3), structure="CTVT_427", now=T0 + 4)
    f = study / "sessions" / "obsX.json"
    d = json.loads(f.read_text())
    rec = d["steps"][0]["cases"][0]["structures"]["CTVT_427"]
    rec[field] = target
    f.write_text(json.dumps(d))
    before = snapshot(tmp_path / "outside")
    with pytest.raises(CorruptStudyFile, match=r"outside|output"):
        ObserverSession(study, "obsX", now=T0 + 10)
    with pytest.raises(CorruptStudyFile):
        export_study(study)
    assert snapshot(tmp_path / "outside") == before == {}


# -- symlinks ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("level", ["patient", "frame", "observerData"])
@pytest.mark.slow
def test_a_symlinked_output_folder_is_not_written_through(patient, tmp_path, level):
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    parts = {"patient": [], "frame": [patient.id], "observerData": [patient.id, "MR_StorT2"]}[level]
    parent = out.joinpath(*parts)
    parent.mkdir(parents=True)
    link = parent / {"patient": patient.id, "frame": "MR_StorT2", "observerData": "observerData"}[level]
    os.symlink(outside, link)
    with pytest.raises(PermissionError, match="symbolic link"):
        patient.save_mask("Bladder", patient.mask_obj("Bladder"), source="step1_obsF", out_dir=out)
    assert not list(outside.rglob("*"))


@pytest.mark.parametrize("which", ["plain", "version", "sidecar", "next version"])
@pytest.mark.slow
def test_a_symlinked_final_file_name_is_not_written_through(patient, tmp_path, which):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "target"
    target.write_bytes(b"precious")
    out = tmp_path / "out"
    m = patient.mask_obj("Bladder")
    patient.save_mask("Bladder", m, source="step1_obsF", out_dir=out)  # v001
    folder = out / patient.id / "MR_StorT2" / "observerData"
    name = {
        "plain": "mask_Bladder_step1_obsF.nii.gz",
        "version": "mask_Bladder_step1_obsF_v002.nii.gz",
        "sidecar": "mask_Bladder_step1_obsF_v002.json",
        "next version": "mask_Bladder_step1_obsF_v003.nii.gz",
    }[which]
    if (folder / name).exists():
        (folder / name).unlink()
    os.symlink(target, folder / name)
    dangling = folder / "mask_Bladder_step1_obsF_v004.json"
    os.symlink(outside / "created-through-link", dangling)
    for _ in range(3):
        saved = patient.save_mask("Bladder", m, source="step1_obsF", out_dir=out)
        assert not saved.is_symlink()
    assert target.read_bytes() == b"precious"
    assert not (outside / "created-through-link").exists()
    assert sorted(p.name for p in outside.iterdir()) == ["target"]
    plain = folder / "mask_Bladder_step1_obsF.nii.gz"
    assert not plain.is_symlink() and plain.read_bytes() == saved.read_bytes()


def test_symlinks_in_a_study_folder_are_not_written_through(study, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "log").write_text("precious\n")
    (outside / "LUNDPROBE_0433").mkdir()
    audit = (study / "audit.log").read_bytes()
    os.symlink(outside / "log", study / "audit.log.tmp")
    os.replace(study / "audit.log.tmp", study / "audit.log")  # the audit log now leads outside
    # every save is linked in the audit log: a session cannot even start without writing through it
    with pytest.raises(PermissionError, match="audit"):
        ObserverSession(study, "obsX", now=T0 + 1)
    assert not (study / "sessions" / "obsX.json").exists() and not (study / "sessions" / "obsX.lock").exists()
    assert (outside / "log").read_text() == "precious\n"
    os.unlink(study / "audit.log")
    (study / "audit.log").write_bytes(audit)
    with ObserverSession(study, "obsX", now=T0 + 1) as s:
        pid = s.state.steps[1].cases[0].patient
        os.symlink(outside / pid, study / "output" / pid)  # the case's output folder leads outside
        for name in s.structures:
            s.rate("quality", 3, structure=name, now=T0 + 2)
            s.rate("confidence", 3, structure=name, now=T0 + 2)
        m = s.begin_editing("CTVT_427", now=T0 + 3)
        with pytest.raises(PermissionError, match="symbolic link"):
            s.save_edit(m, structure="CTVT_427", now=T0 + 4)
        assert s.state.steps[1].cases[0].structures["CTVT_427"].output_version is None
        os.unlink(study / "output" / pid)
        s.finish_case(now=T0 + 5)
    assert (outside / "log").read_text() == "precious\n"
    assert not list((outside / pid).rglob("*"))
    export = study / "export"
    export.mkdir()
    os.symlink(outside / pid, export / pid)
    with pytest.raises(PermissionError, match="symbolic link"):
        export_study(study)
    assert not list((outside / pid).rglob("*"))


# -- two instances, stale locks --------------------------------------------------------------------------------
_HOLDER = r"""
import sys, time
from lundprobe_gui.study import ObserverSession
s = ObserverSession(sys.argv[1], "obsX", now=float(sys.argv[2]))
print("OPEN", flush=True)
time.sleep(120)
"""


def test_two_instances_on_one_study_are_refused_and_a_killed_ones_lock_is_recovered(study, figures):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(study), str(T0 + 1)],
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    try:
        assert holder.stdout.readline().strip() == "OPEN"
        with pytest.raises(SessionLocked, match=f"pid {holder.pid}"):
            ObserverSession(study, "obsX", now=T0 + 2)
        with ObserverSession(study, "obsY", now=T0 + 2):  # another observer is not blocked
            pass
        lock = (study / "sessions" / "obsX.lock").read_bytes()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
    assert (study / "sessions" / "obsX.lock").read_bytes() == lock  # a killed process leaves its lock behind
    with ObserverSession(study, "obsX", now=T0 + 3) as s:  # taken over: the owner is gone
        assert s.state.observer == "obsX"
    events = [e for e in read_audit(study) if e["event"] == "stale_lock_recovered"]
    assert len(events) == 1 and events[0]["stale_lock"]["pid"] == holder.pid
    assert not (study / "sessions" / "obsX.lock").exists()
    figures["refused_pid"] = holder.pid


def _write_lock(study: Path, **fields) -> Path:
    import socket

    info = {
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
        "started_at": "2025-03-03T08:00:00Z",
        "purpose": "session",
        "token": "t" * 32,
        "pid_start": None,
    }
    info.update(fields)
    path = study / "sessions" / "obsX.lock"
    path.write_text(json.dumps(info))
    return path


def test_lock_of_a_reused_pid_is_recovered_but_not_another_hosts_or_an_unreadable_one(study):
    # pid 1 is alive, but it is not the process that took the lock (its start time differs)
    _write_lock(study, pid=1, pid_start="1")
    with ObserverSession(study, "obsX", now=T0 + 1):
        pass
    assert [e["event"] for e in read_audit(study)].count("stale_lock_recovered") == 1
    # a lock from another machine cannot be checked from here: refused
    path = _write_lock(study, hostname="some-other-host.example", pid=12345)
    with pytest.raises(SessionLocked, match="some-other-host"):
        ObserverSession(study, "obsX", now=T0 + 2)
    assert path.exists()
    # a lock file that cannot be read is never removed on a guess
    path.write_bytes(b"\x00garbage")
    with pytest.raises(SessionLocked, match="cannot be read"):
        ObserverSession(study, "obsX", now=T0 + 3)
    assert path.read_bytes() == b"\x00garbage"
    path.unlink()


def test_two_review_sessions_are_refused(tiny_root, tmp_path):
    review = tmp_path / "review"
    init_review(review, tiny_root, "rev1")
    first = ReviewSession(review)
    try:
        with pytest.raises(SessionLocked):
            ReviewSession(review)
    finally:
        first.close()
    ReviewSession(review).close()  # released: a new session opens
