"""Active time: one rule (gaps up to the idle threshold count, longer ones only a short tail), live and recomputed."""

from __future__ import annotations

import json

import pytest

from lundprobe_gui.session.activetime import ActiveClock, IdleRule, active_seconds
from lundprobe_gui.study import InitOptions, ObserverSession, init_study, recompute_active_time

from .helpers import T0


def test_the_rule_counts_short_gaps_in_full_and_long_ones_as_a_tail():
    rule = IdleRule(60, 10)
    assert rule.credit(30) == 30
    assert rule.credit(60) == 60
    assert rule.credit(61) == 10  # idle: only the tail
    assert rule.credit(600) == 10
    assert rule.credit(-5) == 0  # a clock set back earns nothing
    assert IdleRule(60, 0).credit(100) == 0
    with pytest.raises(ValueError, match=r"idle threshold must be a number > 0"):
        IdleRule(0, 0)
    with pytest.raises(ValueError, match=r"idle tail must be"):
        IdleRule(30, 40)  # a tail longer than the threshold


def test_the_clock_credits_the_target_of_the_previous_event_and_stops_after_a_pause():
    c = ActiveClock(IdleRule(60, 10))
    assert c.close(0) == (None, 0.0, frozenset())  # nothing before the first event
    c.open(0, "a", False)
    assert c.close(20)[:2] == ("a", 20)
    c.open(20, "b", False, ["unc"])
    assert c.close(200) == ("b", 10, frozenset({"unc"}))  # 180 s idle: the 10 s tail
    c.open(200, "b", True)  # minimised
    assert c.close(900)[1] == 0
    assert c.running(900) == 0


@pytest.mark.slow
def test_session_time_per_case_and_structure(study_dir):
    s = ObserverSession(study_dir, "obsX", now=T0)
    t = T0
    s.activity(now=t)  # case starts, CTVT_427 active
    s.activity(now=t + 30)  # 30 s on CTVT_427
    s.activity(now=t + 30 + 300)  # idle 5 min: only the 10 s tail counts
    s.window_minimised(now=t + 340)  # +10 s, then paused
    s.window_restored(now=t + 940)  # 10 min minimised: nothing
    s.select_structure("Rectum", now=t + 950)  # +10 s on CTVT_427, then Rectum
    s.activity(now=t + 970)  # +20 s on Rectum
    assert s.active_seconds("CTVT_427", now=t + 970) == pytest.approx(30 + 10 + 10 + 10)
    assert s.active_seconds("Rectum", now=t + 970) == pytest.approx(20)
    assert s.active_seconds(now=t + 975) == pytest.approx(60 + 25)  # the running 5 s included
    s.close(now=t + 975)
    s2 = ObserverSession(study_dir, "obsX", now=t + 5000)  # stored; the gap while closed is not counted
    case = s2.state.steps[1].cases[0]
    assert case.structures["CTVT_427"].active_seconds == pytest.approx(60)
    assert case.structures["Rectum"].active_seconds == pytest.approx(25)
    s2.activity(now=t + 5010)  # opening the session is the observer's first event: its 10 s count
    assert s2.active_seconds(now=t + 5020) == pytest.approx(85 + 10 + 10)
    s2.close(now=t + 5020)


def test_focus_lost_stops_the_clock_like_minimising(study_dir):
    with ObserverSession(study_dir, "obsX", now=T0) as s:
        s.activity(now=T0)
        s.focus_lost(now=T0 + 5)
        s.focus_gained(now=T0 + 50)  # another program was in front: not counted
        s.activity(now=T0 + 55)
        assert s.active_seconds(now=T0 + 55) == pytest.approx(10)
        s.close(now=T0 + 55)


@pytest.mark.slow
def test_the_rule_comes_from_the_study(study_dataset, tmp_path):
    d = tmp_path / "s"
    opts = InitOptions(dataset_root=study_dataset, observers=["a"], idle_timeout_s=30, idle_tail_s=2, seed=1)
    init_study(d, opts, now=T0)
    assert json.loads((d / "study.json").read_text())["idle_tail_seconds"] == 2
    s = ObserverSession(d, "a", now=T0)
    s.activity(now=T0)
    s.activity(now=T0 + 25)
    s.activity(now=T0 + 125)
    assert s.active_seconds(now=T0 + 125) == pytest.approx(25 + 2)
    s.close(now=T0 + 125)


def test_the_event_log_recomputes_the_stored_times_with_any_threshold(study_dir):
    s = ObserverSession(study_dir, "obsX", now=T0)
    gaps = [3, 7, 45, 59, 61, 200, 12, 0.5, 90, 30]
    t = T0
    for i, g in enumerate(gaps):
        t += g
        if i == 4:
            s.set_uncertainty_shown(False, now=t)  # step 1 never shows the map anyway
        s.activity(now=t)
        if i == 5:
            s.select_structure("Rectum", now=t)
    s.close(now=t + 1)
    rows = {(r.structure): r for r in recompute_active_time(study_dir)}
    with ObserverSession(study_dir, "obsX", now=t + 10) as s2:
        case = s2.state.steps[1].cases[0]
        for name in ("CTVT_427", "Rectum"):
            assert rows[name].active_seconds == pytest.approx(case.structures[name].active_seconds)
            assert case.structures[name].uncertainty_visible_seconds == 0
        s2.close(now=t + 10)
    # the same log with another threshold, by hand: gaps after the first input, CTV until the 6th event
    rule = IdleRule(100, 5)
    ctv = sum(rule.credit(g) for g in gaps[1:6])
    rect = sum(rule.credit(g) for g in gaps[6:]) + rule.credit(1)
    again = {(r.structure): r for r in recompute_active_time(study_dir, idle_s=100, tail_s=5)}
    assert again["CTVT_427"].active_seconds == pytest.approx(ctv)
    assert again["Rectum"].active_seconds == pytest.approx(rect)
    # and the generic function on the raw log agrees with the study's wrapper
    events = [json.loads(x) for x in (study_dir / "sessions" / "obsX.events.jsonl").read_text().splitlines()]
    raw = active_seconds(events, IdleRule(100, 5), ("step", "patient", "structure"))
    assert sum(v["active"] for v in raw.values()) == pytest.approx(ctv + rect)
