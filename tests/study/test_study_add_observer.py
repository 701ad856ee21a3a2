"""``study add-observer``: a late observer joins a sealed, running study; nothing of the others changes."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from lundprobe_gui.study import (
    AdminAuth,
    DefinitionChanged,
    InitOptions,
    ObserversAdded,
    ObserverSession,
    SessionLocked,
    StudyError,
    add_observers,
    case_plan,
    check_definition,
    init_study,
    load_study,
    read_audit,
    seal_state,
)
from lundprobe_gui.study import observers as observers_module
from lundprobe_gui.study import seal as seal_module
from lundprobe_gui.study.locking import SessionLock

from .helpers import DAY, T0, lp, work_case

ADMIN = AdminAuth("admin", "cli-flag")


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _plans(study_dir: Path, observers: list[str]) -> dict:
    st = load_study(study_dir)
    return {
        (o, k): (st.arm_of(o, k), [(c.pseudonym, c.patient) for c in case_plan(st.patients, st.seed, o, k)])
        for o in observers
        for k in range(1, len(st.steps) + 1)
    }


def _crossover(study_dataset: Path, d: Path, observers: int = 3) -> Path:
    """A 3-arm crossover of ``obs1`` .. ``obs<observers>``, seed 3, no washout."""
    init_study(
        d,
        InitOptions(
            dataset_root=study_dataset,
            observers=[f"obs{i}" for i in range(1, observers + 1)],
            seed=3,
            design="crossover",
            arm_specs=["dosearm:show=dose"],
            arms=["without", "with_uncertainty", "dosearm"],
            washout_days=0,
        ),
        now=T0,
    )
    return d


def test_a_late_observer_takes_the_next_row_and_nothing_else_changes(study_dataset, tmp_path):
    d = _crossover(study_dataset, tmp_path / "study")
    s = ObserverSession(d, "obs1", now=T0)
    t = work_case(s, T0)
    s.close(now=t)
    assert lp("export", d).returncode == 0
    before_json = json.loads((d / "study.json").read_text())
    before_plans = _plans(d, ["obs1", "obs2", "obs3"])
    before_files = {k: v for k, v in _tree_bytes(d).items() if k not in ("study.json", "audit.log")}
    audit_before = (d / "audit.log").read_bytes()

    r = lp("add-observer", d, "obs4", "obs5", "--admin", "--reason", "a fifth oncologist joined late")
    assert r.returncode == 0, r.stderr
    assert "added obs4, obs5" in r.stdout and "5 observers" in r.stdout

    after_json = json.loads((d / "study.json").read_text())
    assert after_json["observers"] == ["obs1", "obs2", "obs3", "obs4", "obs5"]
    changed = {k for k in before_json if before_json[k] != after_json[k]}
    assert changed == {"observers", "arm_orders"}
    for o in ("obs1", "obs2", "obs3"):
        assert after_json["arm_orders"][o] == before_json["arm_orders"][o]
    assert _plans(d, ["obs1", "obs2", "obs3"]) == before_plans
    # the new ones are what init would have given them had they been listed from the start
    ref = _crossover(study_dataset, tmp_path / "ref", observers=5)
    assert _plans(d, ["obs4", "obs5"]) == _plans(ref, ["obs4", "obs5"])
    assert json.loads((ref / "study.json").read_text())["arm_orders"] == after_json["arm_orders"]
    assert after_json["arm_orders"]["obs4"] == after_json["arm_orders"]["obs1"][::-1]  # row 3 of a 3-arm Williams
    assert f"obs4: {' -> '.join(after_json['arm_orders']['obs4'])}" in r.stdout

    # existing sessions, events and outputs: the same bytes; the audit log only grew by the seal
    assert {k: v for k, v in _tree_bytes(d).items() if k not in ("study.json", "audit.log")} == before_files
    audit = (d / "audit.log").read_bytes()
    assert audit.startswith(audit_before)
    new_lines = [json.loads(x) for x in audit[len(audit_before) :].splitlines()]
    assert [e["event"] for e in new_lines] == ["observers_added"]
    e = new_lines[0]
    assert e["observers"] == ["obs4", "obs5"] and e["reason"] == "a fifth oncologist joined late"
    assert e["by"] and e["method"] == "cli-flag" and e["time"] and e["logged_at"]
    assert e["definition_sha256"] == hashlib.sha256((d / "study.json").read_bytes()).hexdigest()
    assert e["previous_sha256"] == hashlib.sha256(json.dumps(before_json, indent=2).encode()).hexdigest()
    assert seal_state(d).ok and not (d / "study.lock").exists()

    # obs4 works in its own first arm, and results.csv says so
    with ObserverSession(d, "obs4", now=t) as s:
        t = work_case(s, t)
        s.close(now=t)
    assert lp("export", d).returncode == 0
    with open(d / "results.csv", newline="") as fh:
        rows = [x for x in csv.DictReader(fh) if x["finished_at"]]
    assert {(x["observer"], x["step"], x["arm"]) for x in rows} == {
        ("obs1", "1", after_json["arm_orders"]["obs1"][0]),
        ("obs4", "1", after_json["arm_orders"]["obs4"][0]),
    }


def test_the_new_observer_works_through_every_step_and_is_listed(study_dir):
    s = ObserverSession(study_dir, "obsX", now=T0)
    t = work_case(s, T0)
    s.close(now=t)
    r = lp("add-observer", study_dir, "obsZ", "--admin")
    assert r.returncode == 0, r.stderr

    s = ObserverSession(study_dir, "obsZ", now=T0)
    study = s.study
    t = T0
    for _ in study.patients:
        assert s.current_case(t).pseudonym
        t = work_case(s, t)
    s.close(now=t)
    t += 28 * DAY
    with ObserverSession(study_dir, "obsZ", now=t) as s:
        assert s.current_case(t).step == 2
        for _ in study.patients:
            t = work_case(s, t)
        s.close(now=t)

    r = lp("status", study_dir, "--json")
    assert r.returncode == 0, r.stderr
    status = json.loads(r.stdout)
    assert status["observers"] == ["obsX", "obsY", "obsZ"]
    rows = {(x["observer"], x["step"]): x["finished"] for x in status["steps"]}
    assert rows[("obsZ", 1)] == rows[("obsZ", 2)] == len(study.patients) and rows[("obsX", 1)] == 1

    r = lp("export", study_dir)
    assert r.returncode == 0, r.stderr
    with open(study_dir / "results.csv", newline="") as fh:
        table = [x for x in csv.DictReader(fh) if x["observer"] == "obsZ" and x["finished_at"]]
    assert len(table) == 2 * len(study.patients) * len(study.structures)
    exported = sorted(p.name for p in (study_dir / "export").rglob("*_obsZ.nii.gz"))
    assert exported == sorted(
        f"mask_{st}_step{k}_obsZ.nii.gz" for _ in study.patients for st in study.structures for k in (1, 2)
    )


@pytest.mark.parametrize(
    ("names", "why"),
    [
        (["../evil"], "path separators"),
        (["a/b"], "path separators"),
        (["obs.Z"], "observer ID"),
        (["obsZ", "obsZ"], "listed twice"),
        (["obsZ", "OBSZ"], "differ only in case"),
        (["obsX"], "already in the study"),
        (["OBSX"], "only in case"),
        (["obsB"], "published observer"),
    ],
)
def test_bad_names_are_refused_and_nothing_is_written(study_dir, tmp_path, names, why):
    before = _tree_bytes(study_dir)
    r = lp("add-observer", study_dir, *names, "--admin")
    assert r.returncode == 2 and why in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert _tree_bytes(study_dir) == before
    assert not (tmp_path / "evil").exists() and not (study_dir.parent / "evil").exists()


def test_admin_rules_and_a_folder_that_is_not_a_study(study_dataset, study_dir, tmp_path):
    before = _tree_bytes(study_dir)
    r = lp("add-observer", study_dir, "obsZ")
    assert r.returncode == 2 and "--admin" in r.stderr
    r = lp("add-observer", tmp_path, "obsZ", "--admin")
    assert r.returncode == 2 and "not a study folder" in r.stderr
    assert not (tmp_path / "study.lock").exists()
    with pytest.raises(StudyError, match="needs the administrator"):
        add_observers(study_dir, ["obsZ"], "root")  # type: ignore[arg-type]
    assert _tree_bytes(study_dir) == before

    # an admin PIN: refused without it (and the refusal logged), accepted with it
    d = tmp_path / "pinned"
    init_study(d, InitOptions(dataset_root=study_dataset, observers=["obsX"], seed=2, admin_pin="letmein"), now=T0)
    r = lp("add-observer", d, "obsZ", "--admin", "--pin", "nope")
    assert r.returncode == 2 and "PIN" in r.stderr
    assert load_study(d).observers == ("obsX",)
    r = lp("add-observer", d, "obsZ", "--admin", "--pin", "letmein", "--reason", "x")
    assert r.returncode == 0, r.stderr
    events = [e["event"] for e in read_audit(d)]
    assert events[-2:] == ["admin_refused", "observers_added"] and read_audit(d)[-1]["method"] == "pin"

    # a definition changed by hand after sealing is refused, untouched
    path = study_dir / "study.json"
    path.write_text(path.read_text().replace('"washout_days": 28.0', '"washout_days": 1.0'))
    edited = path.read_bytes()
    r = lp("add-observer", study_dir, "obsZ", "--admin")
    assert r.returncode == 2 and "changed after it was sealed" in r.stderr
    assert path.read_bytes() == edited


def test_observer_pins_are_required_stored_hashed_and_asked(study_dataset, tmp_path, monkeypatch):
    d = tmp_path / "s"
    init_study(d, InitOptions(dataset_root=study_dataset, observers=["obsX"], seed=2, observer_pins={"obsX": "4711"}))
    before = (d / "study.json").read_bytes()
    r = lp("add-observer", d, "obsZ", "--admin")
    assert r.returncode == 2 and "give obsZ one" in r.stderr
    pins = tmp_path / "pins.json"
    pins.write_text(json.dumps({"obsQ": "1234"}))
    r = lp("add-observer", d, "obsZ", "--admin", "--observer-pins", pins)
    assert r.returncode == 2 and "not being added: obsQ" in r.stderr
    pins.write_text(json.dumps({"obsZ": "12"}))
    r = lp("add-observer", d, "obsZ", "--admin", "--observer-pins", pins)
    assert r.returncode == 2 and "PIN of obsZ" in r.stderr and "at least 4" in r.stderr
    assert (d / "study.json").read_bytes() == before

    pins.write_text(json.dumps({"obsZ": "2468"}))
    r = lp("add-observer", d, "obsZ", "--admin", "--observer-pins", pins)
    assert r.returncode == 0, r.stderr
    text = (d / "study.json").read_text()
    assert (
        "2468" not in text and json.loads(text)["observer_pins"]["obsX"] == json.loads(before)["observer_pins"]["obsX"]
    )
    with pytest.raises(StudyError, match="not accepted"):
        ObserverSession(d, "obsZ", pin="4711", now=T0)
    with ObserverSession(d, "obsZ", pin="2468", now=T0) as s:
        assert s.observer == "obsZ"
        s.close(now=T0 + 1)

    # typed at the prompt, twice, without echo
    typed = iter(["1357", "1357"])
    monkeypatch.setattr("lundprobe_gui.cli.study_cmd.getpass.getpass", lambda prompt="": next(typed))
    r = lp("add-observer", d, "obsW", "--admin", "--observer-pins", "-")
    assert r.returncode == 0, r.stderr
    with ObserverSession(d, "obsW", pin="1357", now=T0) as s:
        s.close(now=T0 + 1)
    added = [e for e in read_audit(d) if e["event"] == "observers_added"]
    assert [e["observer_pins"] for e in added] == [["obsZ"], ["obsW"]]


def test_an_open_session_goes_on_and_a_lock_held_too_long_is_refused(study_dir, monkeypatch):
    s = ObserverSession(study_dir, "obsX", now=T0)  # an observer working: adding another is allowed
    try:
        t = work_case(s, T0)
        r = lp("add-observer", study_dir, "obsZ", "--admin")
        assert r.returncode == 0, r.stderr
        t = work_case(s, t)  # the open session keeps saving under the new seal
    finally:
        s.close(now=t)
    r = lp("status", study_dir, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["problems"] == []

    # another administrator command holds study.lock longer than the wait: refused, nothing written
    monkeypatch.setattr(observers_module, "LOCK_WAIT_S", 0.1)
    before = _tree_bytes(study_dir)
    held = SessionLock(study_dir / "study.lock", "admin")
    held.acquire()
    try:
        with pytest.raises(SessionLocked, match="another administrator command"):
            add_observers(study_dir, ["obsW"], ADMIN)
        r = lp("add-observer", study_dir, "obsW", "--admin")
        assert r.returncode == 2 and "another administrator command" in r.stderr
    finally:
        held.release()
    assert {k: v for k, v in _tree_bytes(study_dir).items() if k != "study.lock"} == before


def test_administrators_racing_each_other_lose_nothing(study_dir):
    """Each waits its turn: every observer is in study.json and the audit log, and the seal holds."""
    names = [f"obsR{i}" for i in range(8)]
    done: dict[str, object] = {}
    go = threading.Barrier(len(names))

    def add(name: str) -> None:
        go.wait()
        try:
            done[name] = add_observers(study_dir, [name], ADMIN)
        except Exception as e:  # noqa: BLE001 - every outcome is checked below
            done[name] = e

    threads = [threading.Thread(target=add, args=(n,)) for n in names]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(isinstance(done[n], ObserversAdded) for n in names), done
    added = sorted(names)
    st = load_study(study_dir)
    assert set(st.observers) == {"obsX", "obsY", *added}
    assert check_definition(study_dir).ok and not (study_dir / "study.lock").exists()
    logged = [o for e in read_audit(study_dir) if e["event"] == "observers_added" for o in e["observers"]]
    assert sorted(logged) == sorted(added)


def test_an_audit_log_that_cannot_be_written_puts_the_old_definition_back(study_dir, tmp_path):
    before = (study_dir / "study.json").read_bytes()
    os.link(study_dir / "audit.log", tmp_path / "audit-copy.log")  # a second name: the log refuses to append
    with pytest.raises(StudyError, match="put back as it was"):
        add_observers(study_dir, ["obsZ"], ADMIN)
    assert (study_dir / "study.json").read_bytes() == before
    os.unlink(tmp_path / "audit-copy.log")
    assert check_definition(study_dir).ok and load_study(study_dir).observers == ("obsX", "obsY")


def _make_read_only(folder: Path) -> bool:
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return True
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0


def _make_writable(folder: Path) -> None:
    if os.geteuid() != 0:
        folder.chmod(0o755)
    else:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)


def test_a_read_only_study_folder_gets_one_line_and_nothing_half_written(study_dir):
    before = _tree_bytes(study_dir)
    if not _make_read_only(study_dir):
        pytest.skip("no way to make a folder read-only for root here (no chattr)")
    try:
        r = lp("add-observer", study_dir, "obsZ", "--admin")
    finally:
        _make_writable(study_dir)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "nothing was changed" in r.stderr
    assert _tree_bytes(study_dir) == before  # no lock, no temporary file, no audit line


def test_a_leftover_session_file_is_not_adopted(study_dir):
    (study_dir / "sessions" / "obsZ.json").write_text("{}")
    r = lp("add-observer", study_dir, "obsZ", "--admin")
    assert r.returncode == 2 and "obsZ.json already exists" in r.stderr
    assert load_study(study_dir).observers == ("obsX", "obsY")


def test_a_session_opening_while_the_seal_is_written_is_not_refused(study_dir, monkeypatch):
    """study.json is renamed into place before its seal is appended: a reader in between reads again."""
    path = study_dir / "study.json"
    new = json.loads(path.read_text())
    new["observers"].append("obsZ")
    new["arm_orders"]["obsZ"] = new["arm_orders"]["obsX"]
    data = json.dumps(new, indent=2).encode()
    path.write_bytes(data)
    calls = []

    def admin_finishes(seconds: float) -> None:  # the administrator's seal lands while the reader waits
        calls.append(seconds)
        if len(calls) == 1:
            seal_module.append_audit(
                study_dir, "observers_added", definition_sha256=hashlib.sha256(data).hexdigest(), observers=["obsZ"]
            )

    monkeypatch.setattr(seal_module.time, "sleep", admin_finishes)
    assert check_definition(study_dir).ok and len(calls) == 1
    # a definition really changed is still refused after the re-reads
    path.write_bytes(data.replace(b'"washout_days": 28.0', b'"washout_days": 2.0'))
    with pytest.raises(DefinitionChanged):
        check_definition(study_dir)
    assert len(calls) == 1 + seal_module.SEAL_RETRIES


@pytest.mark.parametrize("version", [1, 2])
def test_a_study_of_an_older_format_keeps_its_rules_when_rewritten(study_dir, version):
    """An old definition is rewritten in today's format; read back it is the same study plus the observer."""
    raw = json.loads((study_dir / "study.json").read_text())
    old = {k: v for k, v in raw.items() if k not in ("design", "arm_orders", "step_questions")}
    old["format_version"] = version
    for s in old["steps"]:
        del s["arm"]
        if version == 1:
            del s["hidden"]  # version 1 had no dose category: its steps showed the dose
    if version == 1:
        del old["show_clock"]
    (study_dir / "study.json").write_text(json.dumps(old, indent=2))
    assert lp("reseal", study_dir, "--admin", "--reason", "old format").returncode == 0
    before = load_study(study_dir)
    with ObserverSession(study_dir, "obsX", now=T0) as s:
        t = work_case(s, T0)
        s.close(now=t)

    r = lp("add-observer", study_dir, "obsZ", "--admin")
    assert r.returncode == 0, r.stderr
    after = load_study(study_dir)
    assert json.loads((study_dir / "study.json").read_text())["format_version"] == 3
    assert (
        replace(after, observers=before.observers, arm_orders=before.arm_orders, format_version=before.format_version)
        == before
    )
    assert after.steps[0].dose_shown is (version == 1) and after.show_clock is (version == 1)
    with ObserverSession(study_dir, "obsX", now=t) as s:  # the old observer's session still opens and works
        t = work_case(s, t)
        s.close(now=t)
    r = lp("status", study_dir, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["problems"] == []
