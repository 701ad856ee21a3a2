"""``lundprobe-gui study ...`` end to end, in subprocesses."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lundprobe_gui.study import ObserverSession, read_audit

from .helpers import T0, work_case


def lp(*args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lundprobe_gui", "study", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
def test_init_status_export_end_to_end(study_dataset, tmp_path):
    d = tmp_path / "study"
    r = lp("init", d, "--dataset", study_dataset, "--observers", "obsX", "obsY", "--seed", "4", "--washout-days", "21")
    assert r.returncode == 0, r.stderr
    assert "3 patients" in r.stdout and "seed 4" in r.stdout
    st = json.loads((d / "study.json").read_text())
    assert st["washout_days"] == 21 and st["randomisation"]["seed"] == 4 and st["observers"] == ["obsX", "obsY"]

    r = lp("status", d)
    assert r.returncode == 0, r.stderr
    assert "obsX" in r.stdout and "not started" in r.stdout

    s = ObserverSession(d, "obsX", now=T0)
    work_case(s, T0)
    s.close(now=T0 + 100)

    r = lp("status", d, "--json")
    assert r.returncode == 0, r.stderr
    rows = {(x["observer"], x["step"]): x for x in json.loads(r.stdout)["steps"]}
    assert (rows[("obsX", 1)]["finished"], rows[("obsX", 1)]["in_progress"], rows[("obsX", 1)]["pending"]) == (1, 1, 1)
    assert rows[("obsX", 1)]["state"] == "open"
    assert rows[("obsX", 2)]["state"] == "locked" and rows[("obsX", 2)]["locked_reason"] == "step 1 unfinished"
    assert rows[("obsY", 1)]["state"] == "not started"

    r = lp("export", d)
    assert r.returncode == 0, r.stderr
    with open(d / "results.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 2 * 2 * 3 * 2
    done = [x for x in table if x["finished_at"]]
    assert len(done) == 2 and {x["structure"] for x in done} == {"CTVT_427", "Rectum"}
    files = sorted(p.name for p in (d / "export").rglob("*.nii.gz"))
    assert files == ["mask_CTVT_427_step1_obsX.nii.gz", "mask_Rectum_step1_obsX.nii.gz"]


@pytest.mark.parametrize("bad", ["../evil", "a/b", "obs.X", ""])
@pytest.mark.slow
def test_init_refuses_unsafe_observer_ids(study_dataset, tmp_path, bad):
    d = tmp_path / "study"
    r = lp("init", d, "--dataset", study_dataset, "--observers", "obsX", bad)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "observer ID" in r.stderr
    assert not (d / "study.json").exists() and not (tmp_path / "evil").exists()


@pytest.mark.slow
def test_errors_exit_2_with_a_message(study_dataset, tmp_path):
    d = tmp_path / "study"
    assert lp("init", d, "--dataset", study_dataset, "--observers", "obsX").returncode == 0
    r = lp("init", d, "--dataset", study_dataset, "--observers", "obsX")
    assert r.returncode == 2 and "already holds a study" in r.stderr and "Traceback" not in r.stderr
    r = lp("init", tmp_path / "s2", "--dataset", tmp_path / "nowhere")
    assert r.returncode == 2 and "not a folder" in r.stderr
    (d / "study.json").write_text("{ not json")
    for action in ("status", "export"):
        r = lp(action, d)
        assert r.returncode == 2 and "not valid JSON" in r.stderr and "Traceback" not in r.stderr
    assert (d / "study.json").read_text() == "{ not json"
    r = lp("status", tmp_path / "empty")
    assert r.returncode == 2 and "not a study folder" in r.stderr


@pytest.mark.slow
def test_admin_commands(study_dataset, tmp_path):
    d = tmp_path / "study"
    assert (
        lp(
            "init", d, "--dataset", study_dataset, "--observers", "obsX", "--seed", "1", "--admin-pin", "letmein"
        ).returncode
        == 0
    )
    s = ObserverSession(d, "obsX", now=T0)
    t = T0
    for _ in range(3):
        t = work_case(s, t)
    s.close(now=t)

    r = lp("unlock", d, "--observer", "obsX", "--case", "Case 02")
    assert r.returncode == 2 and "--admin" in r.stderr
    r = lp("unlock", d, "--observer", "obsX", "--case", "Case 02", "--admin", "--pin", "nope")
    assert r.returncode == 2 and "PIN" in r.stderr
    r = lp(
        "unlock",
        d,
        "--observer",
        "obsX",
        "--case",
        "Case 02",
        "--admin",
        "--reason",
        "typo",
        env={"LUNDPROBE_STUDY_ADMIN_PIN": "letmein"},
    )
    assert r.returncode == 0, r.stderr
    r = lp("status", d, "--json")
    row = next(x for x in json.loads(r.stdout)["steps"] if x["step"] == 1)
    assert (row["finished"], row["in_progress"], row["unlocks"]) == (2, 1, 1)

    r = lp("override-washout", d, "--observer", "obsX", "--admin", "--pin", "letmein", "--reason", "leaving")
    assert r.returncode == 0, r.stderr
    events = [e["event"] for e in read_audit(d)]
    assert {"admin_refused", "case_unlocked", "washout_overridden"} <= set(events)

    # an admin command is refused while the observer's session is open
    s = ObserverSession(d, "obsX", now=T0)
    try:
        r = lp("unlock", d, "--observer", "obsX", "--case", "1", "--admin", "--pin", "letmein")
        assert r.returncode == 2 and "open session" in r.stderr
    finally:
        s.close(now=T0)


@pytest.mark.slow
def test_contract_checker_lines(study_dataset, tmp_path):
    """The same calls as /work/shared/checks/contract.py: init with two observers, status, export."""
    d = tmp_path / "study"
    assert lp("init", d, "--dataset", study_dataset, "--observers", "obsX", "obsY").returncode == 0
    assert lp("status", d).returncode == 0
    assert lp("export", d).returncode == 0
    assert Path(d / "results.csv").is_file()
