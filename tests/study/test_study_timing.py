"""Active time: idle periods beyond the timeout and minimised periods are not counted."""

from __future__ import annotations

import pytest

from lundprobe_gui.study import ActiveTimer, InitOptions, ObserverSession, init_study

from .helpers import T0


def test_input_keeps_the_clock_running_until_the_idle_timeout():
    c = ActiveTimer(120)
    assert c.activity(0) == 0  # the clock starts at the first input
    assert c.activity(60) == 60
    assert c.activity(60 + 600) == 120  # 10 min idle: 2 min counted, 8 min excluded
    assert c.credit(700) == 40  # ticking without input
    assert c.credit(1000) == 80  # ... until the timeout after the last input (660 + 120)
    assert c.credit(2000) == 0


def test_minimised_time_is_excluded_and_restore_restarts_the_clock():
    c = ActiveTimer(120)
    c.activity(0)
    assert c.window_minimised(30) == 30
    assert c.activity(90) == 0  # input while minimised means the window is back: the gap earns nothing
    assert c.activity(100) == 10
    c2 = ActiveTimer(120)
    c2.activity(0)
    c2.window_minimised(30)
    assert c2.credit(500) == 0
    assert c2.window_restored(500) == 0
    assert c2.activity(510) == 10


def test_backwards_clock_earns_nothing():
    c = ActiveTimer(120)
    c.activity(100)
    assert c.activity(50) == 0
    assert c.activity(110) == 10


def test_pause_and_construction():
    c = ActiveTimer(120)
    c.activity(0)
    assert c.pause(10) == 10 and c.credit(50) == 0 and not c.running
    with pytest.raises(ValueError):
        ActiveTimer(0)


@pytest.mark.slow
def test_session_time_per_case_and_structure(study_dir):
    s = ObserverSession(study_dir, "obsX", now=T0)
    t = T0
    s.activity(now=t)  # case starts, CTVT_427 active
    s.activity(now=t + 30)  # 30 s on CTVT_427
    s.activity(now=t + 30 + 300)  # idle 5 min: only 120 s counted
    s.window_minimised(now=t + 340)  # +10 s, then paused
    s.window_restored(now=t + 940)  # 10 min minimised: nothing
    s.select_structure("Rectum", now=t + 950)  # +10 s on CTVT_427, then Rectum
    s.activity(now=t + 970)  # +20 s on Rectum
    assert s.active_seconds("CTVT_427", now=t + 970) == pytest.approx(30 + 120 + 10 + 10)
    assert s.active_seconds("Rectum", now=t + 970) == pytest.approx(20)
    assert s.active_seconds(now=t + 975) == pytest.approx(170 + 25)
    s.close(now=t + 975)
    s2 = ObserverSession(study_dir, "obsX", now=t + 5000)  # stored; the gap while closed is not counted
    case = s2.state.steps[1].cases[0]
    assert case.structures["CTVT_427"].active_seconds == pytest.approx(170)
    assert case.structures["Rectum"].active_seconds == pytest.approx(25)
    s2.activity(now=t + 5010)
    assert s2.active_seconds(now=t + 5020) == pytest.approx(205)
    s2.close(now=t + 5020)


@pytest.mark.slow
def test_idle_timeout_comes_from_the_study(study_dataset, tmp_path):
    d = tmp_path / "s"
    init_study(d, InitOptions(dataset_root=study_dataset, observers=["a"], idle_timeout_s=30, seed=1), now=T0)
    s = ObserverSession(d, "a", now=T0)
    s.activity(now=T0)
    s.activity(now=T0 + 100)
    assert s.active_seconds(now=T0 + 100) == pytest.approx(30)
    s.close(now=T0 + 100)
