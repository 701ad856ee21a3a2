"""3. Text never poisons state: text that cannot be stored is refused before it enters a session's state, and a
change whose save fails is taken back, so every later save and export still works.

Attacks: lone surrogates (a broken clipboard), NUL and other control characters, 10,000-character comments, a
hand-edited ``state.json`` holding ``\\ud800``, a disk that is full for exactly one save, admin reasons and a study
name with a lone surrogate.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil

import pytest

from lundprobe_gui.review import ReviewError, ReviewSession, init_review
from lundprobe_gui.review.errors import CorruptReviewFile
from lundprobe_gui.study import (
    InitOptions,
    ObserverSession,
    StudyError,
    authorise_admin,
    export_study,
    init_study,
    load_study,
)

from .helpers import tiny_patient

T0 = 1_740_988_800.0
BAD_TEXT = ["lone \udcff surrogate", "\ud800", "nul\x00byte", "bell\x07", "esc\x1b[31m", "x" * 10_000]
GOOD_TEXT = ["Blåsa ok, 膀胱 ok", "two\nlines\tand a tab", "=cmd|' /C calc'!A0", "", "\u05e9\u05dc\u05d5\u05dd"]


@pytest.fixture()
def review(tiny_root, tmp_path):
    d = tmp_path / "review"
    init_review(d, tiny_root, "rev1")
    s = ReviewSession(d)
    s.open_case(s.case_ids[0], now=T0)
    yield d, s
    s.close(now=T0 + 100)


def _state(d):
    return json.loads((d / "state.json").read_bytes())


@pytest.mark.parametrize("bad", BAD_TEXT, ids=[repr(b)[:20] for b in BAD_TEXT])
@pytest.mark.slow
def test_a_review_comment_that_cannot_be_stored_is_refused_and_nothing_breaks(review, bad, figures):
    d, s = review
    seg = s.segments()[0].name
    s.rate(seg, 3, now=T0 + 1)
    s.set_comment("findings", "before", now=T0 + 2)
    before = (d / "state.json").read_bytes()
    with pytest.raises(ReviewError) as e:
        s.set_comment("findings", bad, now=T0 + 3)
    assert (d / "state.json").read_bytes() == before
    assert s.case_state().comments["findings"] == "before"
    # every later change is saved, and the case finishes and exports
    s.rate(seg, 4, now=T0 + 4)
    assert _state(d)["cases"][s.current.case_id]["ratings"][seg] == 4
    for other in s.segments()[1:]:
        s.rate(other.name, 5, now=T0 + 5)
    out = s.finish_case(now=T0 + 6)
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows[0]["findings comment"] == "before"
    figures["message"] = str(e.value)[:160]


@pytest.mark.parametrize("good", GOOD_TEXT, ids=[repr(g)[:20] for g in GOOD_TEXT])
def test_any_storable_comment_round_trips(review, good):
    d, s = review
    s.set_comment("segmentation", good, now=T0 + 1)
    assert _state(d)["cases"][s.current.case_id]["comments"]["segmentation"] == good
    s.close(now=T0 + 2)
    again = ReviewSession(d)
    try:
        assert again.case_state(s.case_ids[0]).comments["segmentation"] == good
    finally:
        again.close()


def test_a_hand_edited_review_state_with_a_lone_surrogate_is_refused_untouched(review):
    d, s = review
    s.close(now=T0 + 1)
    data = _state(d)
    data["cases"][s.case_ids[0]]["comments"]["findings"] = "\ud800"
    raw = json.dumps(data).encode("ascii")  # the escape "\ud800" is valid JSON text
    (d / "state.json").write_bytes(raw)
    with pytest.raises(CorruptReviewFile, match="not valid Unicode"):
        ReviewSession(d)
    assert (d / "state.json").read_bytes() == raw


def test_a_review_change_whose_save_fails_is_taken_back(review, monkeypatch):
    d, s = review
    seg = s.segments()[0].name
    s.rate(seg, 2, now=T0 + 1)
    before = (d / "state.json").read_bytes()
    import lundprobe_gui.session.base as protocol  # the one writer of session states, review and study

    real = protocol.atomic_write

    def full(path, data, overwrite=True):
        raise OSError(28, f"No space left on device: cannot write {path.name}")

    monkeypatch.setattr(protocol, "atomic_write", full)
    with pytest.raises(OSError):
        s.rate(seg, 4, now=T0 + 2)
    with pytest.raises(OSError):
        s.set_comment("findings", "lost", now=T0 + 3)
    assert s.case_state().ratings[seg] == 2 and s.case_state().comments["findings"] == ""
    assert (d / "state.json").read_bytes() == before
    monkeypatch.setattr(protocol, "atomic_write", real)
    s.set_comment("findings", "kept", now=T0 + 4)  # space again: saved
    assert _state(d)["cases"][s.current.case_id]["comments"]["findings"] == "kept"
    assert _state(d)["cases"][s.current.case_id]["ratings"][seg] == 2


# -- the study -------------------------------------------------------------------------------------------------
@pytest.fixture()
def study(tmp_path):
    tiny_patient(tmp_path, patient_id="LUNDPROBE_0433")
    d = tmp_path / "study"
    init_study(d, InitOptions(dataset_root=tmp_path / "ds", observers=["obsX"], seed=3), now=T0)
    return d


@pytest.mark.parametrize("bad", BAD_TEXT, ids=[repr(b)[:20] for b in BAD_TEXT])
@pytest.mark.slow
def test_a_study_comment_that_cannot_be_stored_is_refused_and_the_export_works(study, bad):
    with ObserverSession(study, "obsX", now=T0 + 1) as s:
        name = s.structures[0]
        s.rate("comment", "fine", structure=name, now=T0 + 2)
        before = (study / "sessions" / "obsX.json").read_bytes()
        with pytest.raises(StudyError):
            s.rate("comment", bad, structure=name, now=T0 + 3)
        assert (study / "sessions" / "obsX.json").read_bytes() == before
        assert s.ratings(name)["comment"].value == "fine"
        for n in s.structures:
            s.rate("quality", 3, structure=n, now=T0 + 4)
            s.rate("confidence", 4, structure=n, now=T0 + 5)
        s.finish_case(now=T0 + 6)
    rep = export_study(study)
    rows = list(csv.DictReader(io.StringIO(rep.results_csv.read_text(encoding="utf-8"))))
    assert [r["comment"] for r in rows if r["structure"] == name and r["finished_at"]] == ["fine"]


@pytest.mark.slow
def test_a_study_change_whose_save_fails_is_taken_back(study, monkeypatch):
    import lundprobe_gui.session.base as state_mod  # the one writer of session states, review and study

    with ObserverSession(study, "obsX", now=T0 + 1) as s:
        name = s.structures[0]
        s.rate("quality", 2, structure=name, now=T0 + 2)
        before = (study / "sessions" / "obsX.json").read_bytes()
        real = state_mod.atomic_write

        def full(path, data, overwrite=True):
            raise OSError(28, f"No space left on device: cannot write {path.name}")

        monkeypatch.setattr(state_mod, "atomic_write", full)
        with pytest.raises(OSError):
            s.rate("confidence", 5, structure=name, now=T0 + 3)
        assert "confidence" not in s.ratings(name) and s.ratings(name)["quality"].value == 2
        assert (study / "sessions" / "obsX.json").read_bytes() == before
        monkeypatch.setattr(state_mod, "atomic_write", real)
        s.rate("confidence", 4, structure=name, now=T0 + 4)
    with ObserverSession(study, "obsX", now=T0 + 5) as s:
        assert {k: a.value for k, a in s.ratings(name).items()} == {"quality": 2, "confidence": 4}


@pytest.mark.parametrize("bad", ["\udcff", "a\x00b"])
@pytest.mark.slow
def test_admin_reasons_and_study_names_are_checked(study, tmp_path, bad):
    auth = authorise_admin(load_study(study), study, cli_flag=True)
    with ObserverSession(study, "obsX", now=T0 + 1) as s:
        before = (study / "sessions" / "obsX.json").read_bytes()
        with pytest.raises(StudyError, match="reason"):
            s.override_washout(auth, step=2, reason=bad, now=T0 + 2)
        assert (study / "sessions" / "obsX.json").read_bytes() == before
    other = tmp_path / "study2"
    with pytest.raises(StudyError, match="study name"):
        init_study(other, InitOptions(dataset_root=tmp_path / "ds", observers=["obsX"], name=bad), now=T0)
    assert not (other / "study.json").exists()


@pytest.mark.slow
def test_a_review_of_a_dataset_whose_path_is_not_utf8_saves(tiny_root, tmp_path):
    ds = tmp_path / os.fsdecode(b"data\xff")
    shutil.copytree(tiny_root, ds)
    d = tmp_path / "review"
    init_review(d, ds, "rev1")  # the dataset path holds a lone surrogate: written as an ASCII escape
    s = ReviewSession(d)
    try:
        s.open_case(s.case_ids[0], now=T0)
        s.set_comment("findings", "saved", now=T0 + 1)
    finally:
        s.close(now=T0 + 2)
    assert _state(d)["cases"][s.case_ids[0]]["comments"]["findings"] == "saved"
