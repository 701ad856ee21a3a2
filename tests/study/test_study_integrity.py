"""Integrity of a study: the sealed definition, checked and chained session files, times from the clock."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from lundprobe_gui.session.clock import INJECTED_CLOCK_ENV
from lundprobe_gui.study import (
    ClockRefused,
    CorruptStudyFile,
    DefinitionChanged,
    InitOptions,
    ObserverSession,
    authorise_admin,
    export_study,
    init_study,
    load_study,
    read_audit,
    study_report,
    study_status,
)

from .helpers import DAY, T0, lp, rate_all, work_case


def _edit_json(path: Path, fn) -> None:
    d = json.loads(path.read_text())
    fn(d)
    path.write_text(json.dumps(d, indent=1))


# -- the sealed definition ----------------------------------------------------------------------------------
def test_a_changed_definition_is_refused_until_the_admin_reseals_it(study_dir):
    with ObserverSession(study_dir, "obsX", now=T0) as s:
        work_case(s, T0)
        s.close(now=T0 + 100)
    _edit_json(study_dir / "study.json", lambda d: d.update(washout_days=1))  # a 1-day washout mid-study
    r = lp("status", study_dir)
    assert r.returncode == 2 and "changed after it was sealed" in r.stderr and "reseal" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    with pytest.raises(DefinitionChanged):
        ObserverSession(study_dir, "obsY", now=T0 + 200)
    with pytest.raises(DefinitionChanged):
        export_study(study_dir)
    assert not (study_dir / "results.csv").exists()
    # un-blinding step 1 is caught the same way
    r = lp("reseal", study_dir)
    assert r.returncode == 2 and "--admin" in r.stderr
    r = lp("reseal", study_dir, "--admin", "--reason", "washout shortened by the steering committee")
    assert r.returncode == 0, r.stderr
    last = read_audit(study_dir)[-1]
    assert last["event"] == "definition_resealed" and last["previous_sha256"] != last["definition_sha256"]
    assert last["reason"].startswith("washout") and last["logged_at"]
    assert lp("status", study_dir).returncode == 0
    assert load_study(study_dir).washout_days == 1


def test_a_study_from_before_sealing_opens_and_its_first_admin_command_seals_it(study_dir):
    audit = study_dir / "audit.log"
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    for x in lines:  # what an older version wrote: no seal
        x.pop("definition_sha256", None)
    audit.write_text("".join(json.dumps(x) + "\n" for x in lines))
    st = study_report(study_dir)[2]
    assert not st.seal.sealed and st.seal.ok
    assert "not sealed yet" in lp("status", study_dir).stdout
    with ObserverSession(study_dir, "obsX", now=T0) as s:  # observers are not locked out
        work_case(s, T0)
        s.close(now=T0 + 100)
    r = lp("unlock", study_dir, "--observer", "obsX", "--case", "1", "--admin", "--reason", "typo")
    assert r.returncode == 0, r.stderr
    events = [e["event"] for e in read_audit(study_dir)]
    assert "definition_sealed" in events and events.index("definition_sealed") < events.index("case_unlocked")
    _edit_json(study_dir / "study.json", lambda d: d.update(washout_days=2))
    assert lp("status", study_dir).returncode == 2  # sealed now: a change is caught


def test_every_audit_line_has_the_wall_clock_from_init_on(study_dir):
    with ObserverSession(study_dir, "obsX", now=T0) as s:
        work_case(s, T0)
        s.close(now=T0 + 100)
    entries = read_audit(study_dir)
    assert entries[0]["event"] == "study_created"
    assert {"case_finished", "session_saved"} <= {e["event"] for e in entries}
    now = time.time()
    for e in entries:
        assert abs(__import__("lundprobe_gui").study.parse_iso(e["logged_at"]) - now) < 600, e
        assert isinstance(e["mono"], float)


# -- session files: validated and chained -------------------------------------------------------------------
@pytest.fixture()
def worked(study_dir) -> Path:
    with ObserverSession(study_dir, "obsX", now=T0) as s:
        t = work_case(s, T0)
        rate_all(s, t)
        s.close(now=t + 50)
    return study_dir


def _case(d: dict, k: int = 0) -> dict:
    return d["steps"][0]["cases"][k]


@pytest.mark.parametrize(
    "edit, why",
    [
        (lambda d: _case(d)["structures"]["CTVT_427"]["ratings"]["quality"].update(value=99), "not on the scale"),
        (
            lambda d: _case(d)["structures"]["CTVT_427"]["ratings"].update(
                bogus={"value": 1, "at": "2025-03-03T08:00:00+00:00"}
            ),
            "does not ask",
        ),
        (lambda d: _case(d).update(status="in_progress", finished_at=None), "unlock record"),
        (lambda d: _case(d).update(finished_at="2025-03-01T00:00:00+00:00"), "finish times"),
        (lambda d: d["steps"][0].update(completed_at="2025-03-03T08:00:00+00:00"), "completed"),
        (lambda d: _case(d)["structures"]["Rectum"].update(active_seconds=-5), "time span"),
    ],
)
def test_a_hand_edited_session_file_is_refused_as_damaged(worked, edit, why):
    f = worked / "sessions" / "obsX.json"
    _edit_json(f, edit)
    before = f.read_bytes()
    with pytest.raises(CorruptStudyFile, match=why):
        ObserverSession(worked, "obsX", now=T0 + 500)
    with pytest.raises(CorruptStudyFile):
        export_study(worked)
    r = lp("status", worked)
    assert r.returncode == 2 and "obsX" in r.stderr
    assert f.read_bytes() == before  # left untouched


def test_an_edit_within_the_rules_is_caught_by_the_chain_and_the_admin_can_accept_it(worked):
    f = worked / "sessions" / "obsX.json"
    _edit_json(f, lambda d: _case(d)["structures"]["CTVT_427"]["ratings"]["quality"].update(value=1))  # was 3
    with pytest.raises(CorruptStudyFile, match="changed outside the app"):
        ObserverSession(worked, "obsX", now=T0 + 500)
    with pytest.raises(CorruptStudyFile, match="changed outside the app"):
        export_study(worked)
    with pytest.raises(CorruptStudyFile):
        study_status(worked)
    # the administrator corrected it by hand on purpose: accepted, logged, and the chain goes on from it
    r = lp("reseal", worked, "--observer", "obsX", "--admin", "--reason", "rating transcribed from paper")
    assert r.returncode == 0, r.stderr
    assert read_audit(worked)[-1]["event"] == "session_resealed"
    with ObserverSession(worked, "obsX", now=T0 + 500) as s:
        assert s.state.steps[1].cases[0].structures["CTVT_427"].ratings["quality"].value == 1
        s.activity(now=T0 + 501)
        s.close(now=T0 + 502)
    assert export_study(worked).rows


def test_an_edited_event_log_is_caught(worked):
    log = worked / "sessions" / "obsX.events.jsonl"
    assert b'"kind":"rate"' in log.read_bytes()
    log.write_bytes(log.read_bytes().replace(b'"kind":"rate"', b'"kind":"rata"', 1))
    with pytest.raises(CorruptStudyFile):
        ObserverSession(worked, "obsX", now=T0 + 500)
    with pytest.raises(CorruptStudyFile, match="events"):
        export_study(worked)


def test_a_crash_between_linking_and_writing_a_save_is_not_tampering(worked, monkeypatch):
    import lundprobe_gui.session.base as base

    def killed(path, data, overwrite=True):
        raise OSError(5, "simulated power loss after the link")

    s = ObserverSession(worked, "obsX", now=T0 + 500)
    monkeypatch.setattr(base, "atomic_write", killed)
    with pytest.raises(OSError):
        s.rate("comment", "lost", structure="CTVT_427", now=T0 + 501)
    monkeypatch.undo()
    s.folder_lock.release()  # the process is gone: no close
    assert read_audit(worked)[-1]["event"] == "session_saved"  # the link of the save that never happened
    with ObserverSession(worked, "obsX", now=T0 + 600) as s2:
        assert "comment" not in s2.ratings("CTVT_427")
        s2.close(now=T0 + 601)
    assert export_study(worked).rows


# -- times from the clock -------------------------------------------------------------------------------------
def test_caller_supplied_times_far_from_the_clock_are_refused(study_dataset, tmp_path, monkeypatch):
    monkeypatch.delenv(INJECTED_CLOCK_ENV)
    d = tmp_path / "s"
    with pytest.raises(ClockRefused):
        init_study(d, InitOptions(dataset_root=study_dataset, observers=["a"], seed=1), now=T0)
    assert not (d / "study.json").exists()
    init_study(d, InitOptions(dataset_root=study_dataset, observers=["a"], seed=1))
    with pytest.raises(ClockRefused):
        ObserverSession(d, "a", now=T0)
    now = time.time()
    with ObserverSession(d, "a", now=now) as s:
        s.activity(now=now + 60)  # a minute off: fine
        for name in s.structures:
            s.rate("quality", 3, structure=name)
            s.rate("confidence", 3, structure=name)
        with pytest.raises(ClockRefused):
            s.finish_case(now=now + 28 * DAY)  # a washout served in two seconds
        assert s.current_case().status == "in_progress"
        with pytest.raises(ClockRefused):
            s.rate("quality", 2, structure="CTVT_427", now=now - 3600)
        auth = authorise_admin(s.study, d, cli_flag=True)
        with pytest.raises(ClockRefused):
            s.override_washout(auth, now=now + DAY)
        s.close()
    assert not [e for e in read_audit(d) if not e["time"].startswith(e["logged_at"][:10])]


def test_a_clock_that_went_back_or_jumped_is_flagged_in_status_and_export(worked, monkeypatch):
    import lundprobe_gui.session.events as events_mod
    import lundprobe_gui.study.audit as audit_mod

    real = time.time
    monkeypatch.setattr(audit_mod, "wall_time", lambda: real() - 7200)  # set back two hours
    s = ObserverSession(worked, "obsY", now=T0 + 10)
    monkeypatch.undo()

    mono = time.monotonic

    class Jumped:
        @staticmethod
        def time() -> float:
            return real() + 3 * 3600  # the wall clock jumps ahead while the monotonic one does not

        monotonic = staticmethod(mono)

    s.activity(now=T0 + 11)
    monkeypatch.setattr(events_mod, "time", Jumped)
    s.activity(now=T0 + 12)
    monkeypatch.undo()
    s.close(now=T0 + 13)
    check = study_report(worked)[2]
    text = "\n".join(check.clock)
    assert "went back" in text and "audit.log" in text
    assert "obsY event log" in text and ("jumped ahead" in text or "after the present" in text)
    r = lp("status", worked)
    assert r.returncode == 0 and "clock warning" in r.stdout and "warning:" in r.stderr
    rep = export_study(worked)
    assert rep.warnings == check.clock
    integrity = json.loads((worked / "export" / "integrity.json").read_text())
    assert integrity["clock_warnings"] and integrity["definition_ok"]
    assert integrity["definition_sha256"] == hashlib.sha256((worked / "study.json").read_bytes()).hexdigest()


def test_an_unlock_after_the_next_step_started_needs_force_on_the_command_line(study_dir):
    s = ObserverSession(study_dir, "obsX", now=T0)
    t = T0
    for _ in range(3):
        t = work_case(s, t)
    s.close(now=t)
    r = lp("override-washout", study_dir, "--observer", "obsX", "--admin")
    assert r.returncode == 0, r.stderr
    s = ObserverSession(study_dir, "obsX", now=t + 10)
    s.activity(now=t + 11)  # step 2's first case begins: the observer sees the map
    s.close(now=t + 12)
    r = lp("unlock", study_dir, "--observer", "obsX", "--case", "2", "--step", "1", "--admin")
    assert r.returncode == 2 and "--force" in r.stderr
    r = lp("unlock", study_dir, "--observer", "obsX", "--case", "2", "--step", "1", "--admin", "--force")
    assert r.returncode == 0, r.stderr
    unlock = [e for e in read_audit(study_dir) if e["event"] == "case_unlocked"][-1]
    assert unlock["after_step"] == 2 and unlock["forced"]
    again = lp("unlock", study_dir, "--observer", "obsX", "--case", "2", "--step", "1", "--admin", "--force")
    assert again.returncode == 2 and "not finished" in again.stderr  # it is in progress now: nothing to unlock
