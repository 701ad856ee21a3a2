"""Blinding: hidden sources and uncertainty per step, and the published edits under the observer's own name."""

from __future__ import annotations

import pytest

from lundprobe_gui.render.state import ViewerState
from lundprobe_gui.study import InitOptions, ObserverSession, StepRules, Visibility, default_steps, init_study

from .helpers import T0, rate_all

STEP1, STEP2 = default_steps()


def test_step1_hides_everything_but_the_start_mask_and_the_uncertainty(tmp_path):
    v = Visibility.for_step(STEP1, "obsX", "nnUNet", tmp_path / "out")
    assert v.can_open("nnUNet")
    assert not v.can_open("clinical")
    assert not any(v.can_open(f"nnUNet_fold_{n}") for n in range(10))
    assert not v.can_open("step1_obsY") and not v.can_open("step2_obsB")  # other observers, published too
    assert not v.can_open("step2_obsX")  # the other step
    assert v.can_open("step1_obsX")  # own work of this step
    assert v.can_open("step1_obsX", tmp_path / "out" / "p" / "mask_CTVT_427_step1_obsX.nii.gz")
    assert not v.can_open("step1_obsX", tmp_path / "ds" / "p" / "mask_CTVT_427_step1_obsX.nii.gz")
    assert not v.can_open("something_new")  # unknown kinds stay hidden
    assert v.uncertainty_allowed is False


def test_step2_shows_the_uncertainty_on_the_fixed_scale_and_hides_step1(tmp_path):
    v = Visibility.for_step(STEP2, "obsX", "nnUNet", tmp_path)
    assert v.uncertainty_allowed and v.uncertainty_scale == "fixed" and v.uncertainty_range == (0.0, 0.5)
    assert not v.can_open("step1_obsX") and v.can_open("step2_obsX") and not v.can_open("clinical")


def test_rules_can_be_relaxed_per_step():
    rules = StepRules(1, "", "", show_uncertainty=False, hidden=("folds",))
    v = Visibility.for_step(rules, "obsX", "nnUNet")
    assert v.can_open("clinical") and v.can_open("step1_obsY") and not v.can_open("nnUNet_fold_3")
    with pytest.raises(ValueError, match=r"unknown hidden categories \['nonsense'\]"):
        StepRules(1, "", "", show_uncertainty=False, hidden=("nonsense",))


@pytest.mark.slow
def test_session_visibility_applies_to_the_viewer_state(study_dir):
    s = ObserverSession(study_dir, "obsX", now=T0)
    try:
        p = s.patient(T0)
        vis = s.visibility(T0)
        assert vis.step == 1 and not vis.uncertainty_allowed
        state = ViewerState()
        vis.apply(state, p.sources())
        assert state.uncertainty_allowed is False
        assert set(p.sources()) - state.hidden_sources == {"nnUNet"}
        assert s.hidden_sources(T0) == state.hidden_sources
        assert all(not state.allowed(src) for src in ("clinical", "nnUNet_fold_0", "step1_obsB", "step2_obsE"))
        assert s.can_open("nnUNet", now=T0) and not s.can_open("clinical", now=T0)
    finally:
        s.close(now=T0)


@pytest.mark.slow
def test_published_edits_under_the_observers_own_name_are_never_shown(study_dataset, tmp_path):
    # obsB is also a published observer of the dataset: its step1_obsB files are not this study's
    d = tmp_path / "s"
    init_study(d, InitOptions(dataset_root=study_dataset, observers=["obsB"], seed=2, allow_published_ids=True), now=T0)
    s = ObserverSession(d, "obsB", now=T0)
    try:
        p = s.patient(T0)
        refs = p.structures(source="step1_obsB")
        assert refs == []  # the published step1_obsB layers were taken out of the model
        assert not any(r.source == "step2_obsB" for r in p.structures())
        start = s.start_mask("CTVT_427", now=T0)
        assert s.working_mask("CTVT_427", now=T0) == start  # the edit starts from the DL mask, not the published edit
        t = rate_all(s, T0)
        s.save_edit(start, "CTVT_427", now=t)
        ref = p.structure("CTVT_427", "step1_obsB")
        assert str(d / "output") in ref.path
        assert s.can_open("step1_obsB", ref.path, now=t)
        assert not s.can_open(
            "step1_obsB", study_dataset / "x" / "observerData" / "mask_CTVT_427_step1_obsB.nii.gz", now=t
        )
    finally:
        s.close(now=T0)
