"""6. Special and huge small files: a FIFO, a link to /dev/zero, a folder, a 64 GB sparse file or JSON nested
100,000 deep in place of a small file the app reads never hangs, never exhausts memory and never raises a
traceback: it is a Problem naming the file, or a one-line error.

Attacked files: ``missingStructures_*.json``, a label table, the fiducial list, ``study.json``, a session
file, a session lock, ``audit.log``, the review's ``review.json`` and ``state.json``, an autosave index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lundprobe_gui as lp
from lundprobe_gui.edit import recovery
from lundprobe_gui.io.small_files import SmallFileError, parse_json, read_json_file, read_small_bytes
from lundprobe_gui.review import ReviewError, ReviewSession, init_review
from lundprobe_gui.study import InitOptions, ObserverSession, StudyError, init_study, study_status
from lundprobe_gui.study.audit import append_audit, read_audit

from .helpers import TINY, block_mask, subprocess_env, time_limit, tiny_generic, tiny_patient

T0 = 1_740_988_800.0
DEEP = b"[" * 100_000 + b"]" * 100_000


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _dev_zero(path: Path) -> None:
    os.symlink("/dev/zero", path)


def _folder(path: Path) -> None:
    path.mkdir()


def _sparse_64gb(path: Path) -> None:
    with open(path, "wb") as fh:
        fh.truncate(64 * 1024**3)  # sparse: costs nothing on disk, but would cost 64 GB to read


def _deep_json(path: Path) -> None:
    path.write_bytes(DEEP)


def _not_utf8(path: Path) -> None:
    path.write_bytes(b'{"\xff\xfe": 1}')


ATTACKS = {
    "fifo": _fifo,
    "dev-zero": _dev_zero,
    "folder": _folder,
    "sparse-64GB": _sparse_64gb,
    "deep-json": _deep_json,
    "not-utf8": _not_utf8,
}


def _replace(path: Path, attack: str) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)
    ATTACKS[attack](path)


@pytest.fixture()
def dataset(tiny_root, tmp_path):
    shutil.copytree(tiny_root, tmp_path / "ds")
    return tmp_path / "ds"


# -- the reader itself -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("attack", ["fifo", "dev-zero", "folder", "sparse-64GB"])
@pytest.mark.slow
def test_the_small_file_reader_refuses_what_is_not_a_small_regular_file(tmp_path, attack, figures):
    f = tmp_path / "x.json"
    ATTACKS[attack](f)
    with time_limit(5, f"reading a {attack}"), pytest.raises(SmallFileError) as e:
        read_small_bytes(f, what="test file")
    assert str(f) in str(e.value) and "not read" in str(e.value)
    figures["attack"] = attack


def test_json_nested_100000_deep_is_a_value_error_not_a_crash(tmp_path):
    with time_limit(5, "parsing deep JSON"):
        for text in (DEEP, b'{"a":' * 100_000 + b"1" + b"}" * 100_000, b"[" * 65 + b"]" * 65):
            with pytest.raises(ValueError, match="nested"):
                parse_json(text)
    deepest: list = []
    for _ in range(63):
        deepest = [deepest]
    assert parse_json(b"[" * 64 + b"]" * 64) == deepest  # 64 levels are read; the app's own files nest far less
    f = tmp_path / "deep.json"
    f.write_bytes(DEEP)
    with pytest.raises(ValueError, match=r"nested too deeply"):
        read_json_file(f)


@pytest.mark.slow
def test_a_file_that_grows_past_its_cap_while_read_is_refused(tmp_path, monkeypatch):
    f = tmp_path / "grows.json"
    f.write_bytes(b"[]")
    real_read = os.read

    def read(fd, n):  # the file gains a megabyte per read after fstat saw two bytes
        real_read(fd, n)
        return b" " * n

    monkeypatch.setattr(os, "read", read)
    with pytest.raises(SmallFileError, match="grew"):
        read_small_bytes(f, max_bytes=1024)


# -- dataset files: a Problem, the rest of the patient loads ------------------------------------------------------
@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.slow
def test_a_special_missing_structure_list_is_a_problem(dataset, attack, figures):
    _replace(dataset / "missingStructures_reliability.json", attack)
    with time_limit(10, "opening the patient"):
        p = lp.open_patient(dataset / "LUNDPROBE_0001")
        p.load_all()
    probs = [x for x in p.problems if x.path.endswith("missingStructures_reliability.json")]
    assert len(probs) == 1, p.problems
    assert p.mask("Bladder").sum() == block_mask(TINY).sum()  # the rest of the patient is there
    figures["problem"] = probs[0].message


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.slow
def test_a_special_fiducial_list_is_a_problem(dataset, attack):
    _replace(dataset / "LUNDPROBE_0001" / "MR_StorT2" / "MRI_T2_DICOM_coords_fiducials.txt", attack)
    with time_limit(10, "opening the patient"):
        p = lp.open_patient(dataset / "LUNDPROBE_0001")
    assert [x for x in p.problems if "fiducials" in x.path], p.problems
    assert ("CTVT_427", "nnUNet") in p.frames["MRI"].structures


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("name", ["organs_labels.json", "organs_labels.csv"])
@pytest.mark.slow
def test_a_special_label_table_is_a_problem(tmp_path, attack, name):
    folder = tiny_generic(tmp_path / "case")
    from lundprobe_gui.io.writer import header_from_geometry, write_nifti

    labels = block_mask(TINY) + 2 * block_mask(TINY, (0, 0, 0), (1, 2, 2))
    write_nifti(folder / "organs.nii.gz", labels.astype(np.uint8), header_from_geometry(TINY))
    (folder / "labels.json").write_text(json.dumps({"1": "Bladder", "2": "Rectum"}))
    ATTACKS[attack](folder / name)  # the map's own table comes first: it is the one attacked
    with time_limit(10, "opening the case"):
        p = lp.open_patient(folder)
        p.load_all()
    assert [x for x in p.problems if x.path.endswith(name)], p.problems
    # the next table in line still names the labels
    assert {r.name for r in p.structures() if r.label is not None} == {"Bladder", "Rectum"}


# -- study files: a clear StudyError (one line on the command line) --------------------------------------------
@pytest.fixture()
def study(tmp_path):
    tiny_patient(tmp_path, patient_id="LUNDPROBE_0433")
    d = tmp_path / "study"
    init_study(d, InitOptions(dataset_root=tmp_path / "ds", observers=["obsX"], seed=3), now=T0)
    with ObserverSession(d, "obsX", now=T0 + 1):
        pass
    return d


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("which", ["study.json", "sessions/obsX.json", "sessions/obsX.lock"])
@pytest.mark.slow
def test_special_study_files_give_a_clear_error(study, attack, which, figures):
    _replace(study / which, attack)
    with (
        time_limit(10, f"opening a session with {which} a {attack}"),
        pytest.raises(StudyError) as e,
        ObserverSession(study, "obsX", now=T0 + 2),
    ):
        pass
    assert which.split("/")[-1] in str(e.value)
    if which != "sessions/obsX.lock":
        with time_limit(10, "study status"), pytest.raises(StudyError):
            study_status(study)
    figures["message"] = str(e.value)[:200]


@pytest.mark.parametrize("attack", ["fifo", "dev-zero", "folder"])
@pytest.mark.slow
def test_a_special_audit_log_is_refused_without_hanging(study, attack):
    _replace(study / "audit.log", attack)
    with time_limit(10, "appending to the audit log"), pytest.raises(OSError) as e:
        append_audit(study, "test_event")
    assert "audit" in str(e.value)
    if attack != "folder":
        with time_limit(10, "reading the audit log"), pytest.raises(OSError):
            read_audit(study)


@pytest.mark.parametrize("attack", ["fifo", "dev-zero", "sparse-64GB", "deep-json"])
@pytest.mark.slow
def test_the_command_line_gives_one_line_for_a_special_study_file(study, attack):
    _replace(study / "sessions" / "obsX.json", attack)
    r = subprocess.run(
        [sys.executable, "-m", "lundprobe_gui", "study", "status", str(study)],
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(),
    )
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "obsX.json" in r.stderr


# -- review files and the autosave index -----------------------------------------------------------------------
@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("which", ["review.json", "state.json", "review.lock"])
@pytest.mark.slow
def test_special_review_files_give_a_clear_error(tiny_root, tmp_path, attack, which):
    review = tmp_path / "review"
    init_review(review, tiny_root, "rev1")
    _replace(review / which, attack)
    # the lock is the study package's (SessionLocked, a StudyError); the window reports both kinds
    with time_limit(10, f"opening a review with {which} a {attack}"), pytest.raises((ReviewError, StudyError)) as e:
        ReviewSession(review).close()
    assert which in str(e.value)


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.slow
def test_a_special_autosave_is_ignored(tmp_path, attack):
    from lundprobe_gui.core.mask import Mask

    area, patient = tmp_path / "recovery", tmp_path / "patient"
    m = Mask.from_full(block_mask(TINY))
    recovery.autosave(area, patient, "P1", [("Bladder", "step1_obsF", None, m, None)])
    assert recovery.find(area, patient) is not None
    _replace(recovery.patient_folder(area, patient) / "session.json", attack)
    with time_limit(10, "looking for autosaves"):
        assert recovery.find(area, patient) is None
        assert recovery.pending(area) == []


@pytest.mark.parametrize("attack", ["fifo", "dev-zero", "sparse-64GB"])
@pytest.mark.slow
def test_a_special_autosave_block_is_ignored(tmp_path, attack):
    from lundprobe_gui.core.mask import Mask

    area, patient = tmp_path / "recovery", tmp_path / "patient"
    recovery.autosave(area, patient, "P1", [("Bladder", "step1_obsF", None, Mask.from_full(block_mask(TINY)), None)])
    folder = recovery.patient_folder(area, patient)
    block = next(folder.glob("*.npz"))
    _replace(block, attack)
    with time_limit(10, "reading an autosave"):
        assert recovery.find(area, patient) is None
