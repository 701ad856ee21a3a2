"""10. Session locks that are right on every system: liveness and start time from psutil (never ``os.kill``),
the host compared without regard to case, and an administrator who breaks the lock a crashed computer left,
with an audit line.

Attacks: a lock of a reused pid, of a pid that never existed, of another host (and of this host in upper case),
a FIFO or a folder as the lock, an old-format lock, breaking a live lock, breaking without ``--admin``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import psutil
import pytest

from lundprobe_gui.study import InitOptions, ObserverSession, SessionLocked, StudyError, init_study
from lundprobe_gui.study.audit import read_audit
from lundprobe_gui.study.locking import LockInfo, is_stale, read_lock

from .helpers import subprocess_env, time_limit, tiny_patient

T0 = 1_740_988_800.0


@pytest.fixture()
def study(tmp_path):
    tiny_patient(tmp_path, patient_id="LUNDPROBE_0433")
    d = tmp_path / "study"
    init_study(d, InitOptions(dataset_root=tmp_path / "ds", observers=["obsX"], seed=3), now=T0)
    (d / "sessions").mkdir(exist_ok=True)
    return d


def _lock(study, **fields):
    info = {
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
        "started_at": "2025-03-03T08:00:00.000+00:00",
        "purpose": "session",
        "token": "t" * 32,
        "pid_start": None,
        "created": psutil.Process().create_time(),
    }
    info.update(fields)
    path = study / "sessions" / "obsX.lock"
    path.write_text(json.dumps(info))
    return path


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "lundprobe_gui", *args], capture_output=True, text=True, timeout=60, env=subprocess_env()
    )


def test_liveness_comes_from_psutil(study, monkeypatch):
    # On Windows os.kill(pid, 0) terminates the process; psutil asks the system the right way everywhere.
    live = read_lock(_lock(study))
    assert not is_stale(live)
    assert is_stale(LockInfo(2**22 + 12345, socket.gethostname(), "", "", "", None, None))  # no such pid
    monkeypatch.setattr(psutil, "pid_exists", lambda pid: False)
    assert is_stale(live)  # what psutil says is what counts
    monkeypatch.undo()
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: live.created + 3600.0)
    assert is_stale(live)  # a pid running since another time is another process


def test_a_reused_pid_is_told_by_its_start_time(study):
    # pid 1 runs, but it started long before the recorded process
    _lock(study, pid=1, created=psutil.Process(1).create_time() + 3600.0)
    with ObserverSession(study, "obsX", now=T0 + 1):
        pass
    assert [e["event"] for e in read_audit(study)].count("stale_lock_recovered") == 1
    # the same pid with its own start time is alive: refused
    _lock(study, pid=1, created=psutil.Process(1).create_time())
    with pytest.raises(SessionLocked):
        ObserverSession(study, "obsX", now=T0 + 2)


def test_the_host_name_is_compared_without_case(study):
    _lock(study, pid=2**22 + 12345, hostname=socket.gethostname().upper())  # a dead pid "on THIS-HOST"
    with ObserverSession(study, "obsX", now=T0 + 1):
        pass  # judged here, found stale, taken over


def test_an_old_format_lock_is_still_understood(study):
    # written before psutil: the start in clock ticks, no "created"
    path = _lock(study, pid=1, pid_start="1", created=None)
    with ObserverSession(study, "obsX", now=T0 + 1):
        info = read_lock(path)  # our own lock, in the new format
        assert info.pid == os.getpid() and info.created == psutil.Process().create_time()


@pytest.mark.parametrize("kind", ["fifo", "folder"])
@pytest.mark.slow
def test_a_lock_that_is_not_a_file_is_refused_without_hanging(study, kind):
    path = study / "sessions" / "obsX.lock"
    os.mkfifo(path) if kind == "fifo" else path.mkdir()
    with time_limit(10, "opening a session"), pytest.raises(SessionLocked, match=r"obsX\.lock"):
        ObserverSession(study, "obsX", now=T0 + 1)


@pytest.mark.slow
def test_the_admin_breaks_another_hosts_lock_and_it_is_logged(study, figures):
    path = _lock(study, hostname="crashed-laptop.example", pid=4242)
    with pytest.raises(SessionLocked) as e:
        ObserverSession(study, "obsX", now=T0 + 1)
    assert "crashed-laptop.example" in str(e.value) and "break-lock" in str(e.value)
    r = _cli("study", "break-lock", str(study), "--observer", "obsX")  # without --admin
    assert r.returncode == 2 and "--admin" in r.stderr and path.exists()
    r = _cli("study", "break-lock", str(study), "--observer", "obsX", "--admin", "--reason", "laptop died")
    assert r.returncode == 0, r.stderr
    assert not path.exists()
    entry = [e for e in read_audit(study) if e["event"] == "lock_broken"][-1]
    assert entry["observer"] == "obsX" and entry["reason"] == "laptop died" and entry["method"] == "cli-flag"
    assert entry["lock"]["hostname"] == "crashed-laptop.example" and entry["lock"]["pid"] == 4242
    with ObserverSession(study, "obsX", now=T0 + 2):
        pass
    figures["refusal"] = str(e.value)[:200]


@pytest.mark.slow
def test_a_live_lock_on_this_computer_is_not_broken(study):
    with ObserverSession(study, "obsX", now=T0 + 1):
        r = _cli("study", "break-lock", str(study), "--observer", "obsX", "--admin")
        assert r.returncode == 2 and "running process on this computer" in r.stderr
        assert (study / "sessions" / "obsX.lock").exists()
    assert not [e for e in read_audit(study) if e["event"] == "lock_broken"]


@pytest.mark.slow
def test_an_unreadable_lock_is_broken_by_the_admin_only(study):
    path = study / "sessions" / "obsX.lock"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(SessionLocked, match="cannot be read"):
        ObserverSession(study, "obsX", now=T0 + 1)
    assert path.read_bytes() == b"\x00garbage"
    r = _cli("study", "break-lock", str(study), "--observer", "obsX", "--admin")
    assert r.returncode == 0 and not path.exists()
    assert [e for e in read_audit(study) if e["event"] == "lock_broken"][-1]["lock"] is None
    r = _cli("study", "break-lock", str(study), "--observer", "obsX", "--admin")
    assert r.returncode == 2 and "no session lock" in r.stderr
    r = _cli("study", "break-lock", str(study), "--observer", "nobody", "--admin")
    assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.slow
def test_break_lock_needs_the_pin_when_the_study_has_one(tmp_path):
    tiny_patient(tmp_path, patient_id="LUNDPROBE_0433")
    d = tmp_path / "study"
    init_study(d, InitOptions(dataset_root=tmp_path / "ds", observers=["obsX"], seed=3, admin_pin="1234"), now=T0)
    (d / "sessions").mkdir(exist_ok=True)
    path = _lock(d, hostname="elsewhere.example")
    r = _cli("study", "break-lock", str(d), "--observer", "obsX", "--admin", "--pin", "0000")
    assert r.returncode == 2 and path.exists()
    r = _cli("study", "break-lock", str(d), "--observer", "obsX", "--admin", "--pin", "1234")
    assert r.returncode == 0 and not path.exists()
    with pytest.raises(StudyError):  # the API refuses without proof of the admin
        from lundprobe_gui.study import break_session_lock

        break_session_lock(d, "obsX", admin="me")  # type: ignore[arg-type]
