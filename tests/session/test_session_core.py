"""The Qt-free session framework: the clock rule, the event log, the hash chain and the ordered writer."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

from lundprobe_gui.session.activetime import IdleRule, active_seconds
from lundprobe_gui.session.chain import Link, verify_chain
from lundprobe_gui.session.clock import INJECTED_CLOCK_ENV, MAX_SKEW_S, event_time, to_epoch
from lundprobe_gui.session.errors import ClockRefused
from lundprobe_gui.session.events import EventLog, LogMark, read_events
from lundprobe_gui.session.writer import Writer


# -- the clock ------------------------------------------------------------------------------------------
def test_supplied_event_times_must_be_close_to_the_clock_unless_the_tests_inject_one(monkeypatch):
    monkeypatch.delenv(INJECTED_CLOCK_ENV, raising=False)
    now = time.time()
    assert abs(event_time(None) - now) < 5
    assert event_time(now - MAX_SKEW_S + 10) == pytest.approx(now - MAX_SKEW_S + 10)
    with pytest.raises(ClockRefused, match="minutes behind"):
        event_time(now - 28 * 86400)  # a washout served in two seconds
    with pytest.raises(ClockRefused, match="ahead of"):
        event_time(now + 3600)
    assert to_epoch(now - 28 * 86400) == pytest.approx(now - 28 * 86400)  # queries may ask about any time
    monkeypatch.setenv(INJECTED_CLOCK_ENV, "1")
    assert event_time(1_000_000.0) == 1_000_000.0
    monkeypatch.setenv(INJECTED_CLOCK_ENV, "yes")  # only "1" enables it
    with pytest.raises(ClockRefused):
        event_time(1_000_000.0)


# -- the event log ----------------------------------------------------------------------------------------
def test_the_event_log_is_checked_against_its_mark_and_trimmed_after_a_crash(tmp_path):
    path = tmp_path / "e.jsonl"
    log = EventLog(path)
    log.open_at(LogMark())
    log.add("open", 10.0)
    log.add("input", 12.5, step=1, patient="P", structure="S")
    mark = log.write(log.take())
    data = path.read_bytes()
    assert mark == LogMark(2, len(data), hashlib.sha256(data).hexdigest())
    assert [e["kind"] for e in read_events(path)] == ["open", "input"]
    # a line written by a save that never recorded it is cut off when the session opens again
    with open(path, "ab") as fh:
        fh.write(b'{"t": 13, "kind": "input"}\n')
    EventLog(path).open_at(mark)
    assert path.read_bytes() == data
    # an edit of the acknowledged part is refused
    path.write_bytes(data.replace(b'"input"', b'"xnput"'))
    with pytest.raises(ValueError, match="edited outside the app"):
        EventLog(path).open_at(mark)
    path.write_bytes(data[:-5])
    with pytest.raises(ValueError, match="fewer than"):
        EventLog(path).verify(mark)


def test_a_failed_append_is_cut_off_before_the_next_one(tmp_path):
    path = tmp_path / "e.jsonl"
    log = EventLog(path)
    log.open_at(LogMark())
    log.add("open", 1.0)
    log.write(log.take())
    with open(path, "ab") as fh:
        fh.write(b'{"t": 2, "ki')  # half a line: the append failed part-way
    log.add("input", 3.0)
    mark = log.write(log.take())
    assert [e["kind"] for e in read_events(path)] == ["open", "input"]
    assert mark.bytes == path.stat().st_size and mark.lines == 2


# -- the chain --------------------------------------------------------------------------------------------
def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_the_chain_accepts_the_last_state_and_a_save_that_never_reached_the_disk():
    a, b, c, d = (_sha(x) for x in (b"a", b"b", b"c", b"d"))
    links = [Link(1, a, None), Link(2, b, a), Link(3, c, b)]
    assert verify_chain(links, c).ok
    assert verify_chain(links, b).ok  # revision 3 was linked, then the write failed
    assert not verify_chain(links, a).ok  # two saves back: not what the app left
    assert not verify_chain(links, d).ok  # edited outside the app
    # a linked save that failed, then the next save from the state before it
    assert verify_chain([Link(1, a, None), Link(2, b, a), Link(2, c, a), Link(3, d, c)], d).ok
    broken = verify_chain([Link(1, a, None), Link(2, b, a), Link(3, d, c)], d)
    assert not broken.ok and "revision 3" in broken.reason
    assert verify_chain([], a).ok and not verify_chain([], a).started


# -- the writer -------------------------------------------------------------------------------------------
def test_background_jobs_run_in_order_and_a_state_save_is_coalesced_only_at_the_tail():
    w = Writer(background=True)
    gate = threading.Event()
    done: list[str] = []
    w.submit(lambda: gate.wait(10))
    w.submit(lambda: done.append("state 1"), key="state")
    assert w.submit(lambda: done.append("state 1b"), key="state") is None  # the queued one writes the newest
    w.submit(lambda: done.append("mask"))
    w.submit(lambda: done.append("state 2"), key="state")  # must run after the mask: not coalesced
    gate.set()
    assert w.wait(10)
    assert done == ["state 1", "mask", "state 2"]
    w.close()


def test_a_background_failure_is_reported_and_the_worker_goes_on():
    errors = []
    w = Writer(background=True)
    w.submit(lambda: 1 / 0, on_error=errors.append)
    results = []
    w.submit(lambda: 42, on_done=results.append)
    assert w.wait(10)
    assert isinstance(errors[0], ZeroDivisionError) and results == [42]
    w.close()
    with pytest.raises(RuntimeError):
        w.submit(lambda: None)


def test_recomputation_of_a_log_with_pauses_and_flags():
    events = [
        {"t": 0, "kind": "open", "case": "a"},
        {"t": 30, "kind": "input", "case": "a", "unc": True},
        {"t": 50, "kind": "minimised", "case": "a"},
        {"t": 500, "kind": "restored", "case": "a"},
        {"t": 510, "kind": "finish", "case": "a", "pause": True},
        {"t": 900, "kind": "input", "case": "b"},
        {"t": 905, "kind": "open", "case": "b"},  # a new session: the gap before it never counts
        {"t": 2000, "kind": "input", "case": "b"},
    ]
    got = active_seconds(events, IdleRule(60, 10), ("case",), ("unc",))
    assert got[("a",)] == {"active": 30 + 20 + 10, "unc": 20}
    assert got[("b",)] == {"active": 10, "unc": 0}  # 900-905 ends at an open: not counted; then the tail
    assert not any(k[0] is None for k in got)
