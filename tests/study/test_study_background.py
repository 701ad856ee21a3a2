"""An observer's session writing on a background thread (as the window opens it): order, races, failures."""

from __future__ import annotations

import json
import threading

import numpy as np

import lundprobe_gui as lp
from lundprobe_gui.io.nifti import load_array
from lundprobe_gui.study import ObserverSession

from .helpers import T0, rate_all, shave


def test_a_finish_writes_the_finished_case_while_the_next_one_is_already_on_screen(study_dir):
    s = ObserverSession(study_dir, "obsX", now=T0, background=True)
    try:
        t = rate_all(s, T0 + 1)
        s.begin_editing("CTVT_427", now=t)
        edited = shave(s.start_mask("CTVT_427").to_full())
        first = s.patient()
        gate = threading.Event()
        s.submit_write(lambda: gate.wait(20))  # the writer is busy: nothing below is written yet
        view = s.finish_case(now=t + 5, masks={"CTVT_427": edited})
        assert view.position == 1 and s.current_case().position == 2  # the next case is current at once
        second = lp.open_patient(s.patient_path())
        s.attach_patient(second)  # ... and on screen before the finished case's masks are written
        on_disk = json.loads((study_dir / "sessions" / "obsX.json").read_text())
        assert on_disk["steps"][0]["cases"][0]["status"] == "in_progress"  # never finished without its edits
        gate.set()
        assert s.wait_written(60)
        on_disk = json.loads((study_dir / "sessions" / "obsX.json").read_text())
        case = on_disk["steps"][0]["cases"][0]
        assert case["status"] == "finished" and on_disk["steps"][0]["cases"][1]["status"] == "in_progress"
        folder = study_dir / "output" / first.id / "MR_StorT2" / "observerData"
        got = load_array(folder / "mask_CTVT_427_step1_obsX.nii.gz").astype(bool)
        assert np.array_equal(got, edited)
        assert (folder / "mask_Rectum_step1_obsX.nii.gz").is_file()  # accepted unchanged
        assert case["structures"]["CTVT_427"]["output_file"].startswith(f"output/{first.id}/")
        assert not (study_dir / "output" / second.id).exists()  # nothing went to the case on screen
    finally:
        s.close(now=T0 + 100)


def test_a_failing_background_write_is_reported_kept_in_memory_and_written_later(study_dir, monkeypatch):
    import lundprobe_gui.session.base as base

    messages = []
    s = ObserverSession(study_dir, "obsX", now=T0, background=True)
    s.write_failed.connect(messages.append)
    real = base.atomic_write

    def full(path, data, overwrite=True):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(base, "atomic_write", full)
    s.rate("quality", 2, structure="CTVT_427", now=T0 + 1)
    assert s.wait_written(30)
    assert messages and "No space left" in messages[-1]
    assert s.ratings("CTVT_427")["quality"].value == 2  # kept in memory, not taken back
    monkeypatch.setattr(base, "atomic_write", real)
    s.rate("confidence", 4, structure="CTVT_427", now=T0 + 2)  # the disk has room again: everything is written
    assert s.wait_written(30)
    assert messages[-1] is None and s.save_failure is None
    s.close(now=T0 + 3)
    with ObserverSession(study_dir, "obsX", now=T0 + 4) as again:
        assert {k: a.value for k, a in again.ratings("CTVT_427").items()} == {"quality": 2, "confidence": 4}
        again.close(now=T0 + 5)


def test_the_events_of_a_background_session_match_its_stored_times(study_dir):
    s = ObserverSession(study_dir, "obsX", now=T0, background=True)
    t = T0
    for gap in (2, 5, 70, 3, 1, 45):
        t += gap
        s.activity(now=t)
        s.log_event("slice", cursor=[1, 2, 3], now=t + 0.5)
    s.close(now=t + 1)
    from lundprobe_gui.study import recompute_active_time

    rows = {r.structure: r for r in recompute_active_time(study_dir)}
    with ObserverSession(study_dir, "obsX", now=t + 10) as again:
        stored = again.state.steps[1].cases[0].structures["CTVT_427"].active_seconds
        again.close(now=t + 11)
    # from the first input (T0 + 2) to the close, every gap in full but the 69.5 s one (its 10 s tail)
    assert rows["CTVT_427"].active_seconds == stored == (t + 1 - (T0 + 2)) - 69.5 + 10, stored
