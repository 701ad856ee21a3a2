"""A crossover study through the window: each observer's step shows the design's arm, and the end-of-step
questionnaire dialog is filled (Later first, then a refused and an accepted submission)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PySide6 import QtCore, QtWidgets

from lundprobe_gui.demo import DemoOptions, generate
from lundprobe_gui.study import InitOptions, export_study, init_study
from lundprobe_gui.ui.study_case_loader import case_plan
from lundprobe_gui.ui.study_questionnaire import StepQuestionnaireDialog

QUESTIONS = [
    {
        "id": "workload",
        "kind": "likert",
        "text": "How demanding was this step?",
        "required": True,
        "scale": "workload_3",
        "choices": [{"value": 1, "label": "Low"}, {"value": 2, "label": "Medium"}, {"value": 3, "label": "High"}],
    },
    {"id": "remarks", "kind": "text", "text": "Anything to add about this step?", "required": False},
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("crossover-ui-ds") / "ds"
    generate(root, DemoOptions(patients=2, size="small", seed=5))
    return root


def _crossover_study(dataset: Path, d: Path, **options) -> Path:
    """A two-observer crossover study of ``dataset`` in ``d`` (seed 3, no washout), with ``options`` added."""
    init_study(
        d,
        InitOptions(
            dataset_root=dataset, observers=["obs1", "obs2"], seed=3, washout_days=0, design="crossover", **options
        ),
    )
    return d


@pytest.fixture()
def crossover(dataset, tmp_path) -> Path:
    from lundprobe_gui.study import Question

    return _crossover_study(dataset, tmp_path / "study", step_questions=[Question.from_dict(q) for q in QUESTIONS])


def _drive_dialog(actions: list) -> list:
    """Run each action on the next questionnaire dialog shown (polled from the event loop); returns what was seen."""
    seen: list = []
    todo = list(actions)

    def poll() -> None:
        dialog = QtWidgets.QApplication.activeModalWidget()
        if isinstance(dialog, StepQuestionnaireDialog) and dialog.isVisible():
            # with the window's title: which step's case is on screen behind the dialog
            seen.append((dialog.windowTitle(), dialog.problem.text(), dialog.parentWidget().window().windowTitle()))
            todo.pop(0)(dialog)
        if todo:
            QtCore.QTimer.singleShot(20, poll)

    QtCore.QTimer.singleShot(20, poll)
    return seen


def _later(dialog: StepQuestionnaireDialog) -> None:
    dialog.later_button.click()


def _submit_without_required(dialog: StepQuestionnaireDialog) -> None:
    dialog.fields["remarks"].setPlainText("the fold view helped")
    dialog.submit_button.click()


def _fill_and_submit(dialog: StepQuestionnaireDialog) -> None:
    combo = dialog.fields["workload"]
    assert isinstance(combo, QtWidgets.QComboBox)
    combo.setCurrentIndex(combo.findData(2))
    dialog.submit_button.click()


def _work_step(mode) -> None:
    """Rate and finish every case of the current step through the window."""
    s = mode.session
    step = s.current_case().step
    while (view := s.current_case()) is not None and view.step == step:
        for name in view.structures:
            mode.select_structure(name)
            mode.rate("quality", 3)
            mode.rate("confidence", 4)
        assert mode.finish_case(confirm=False), mode.messages


def test_crossover_arms_drive_what_the_window_loads_and_the_questionnaire_dialog(study_window, crossover, qtbot):
    orders = json.loads((crossover / "study.json").read_text())["arm_orders"]
    assert sorted(map(tuple, orders.values())) == [("with_uncertainty", "without"), ("without", "with_uncertainty")]
    win, mode = study_window()
    for observer in ("obs1", "obs2"):
        first_arm = orders[observer][0]
        assert mode.start(crossover, observer)
        s = mode.session
        plan = case_plan(win.patient, s)
        loads_map = any(v.kind == "uncertainty" for v in plan.volumes)
        # the case plan of step 1 follows this observer's first arm, not "step 1 = without"
        assert loads_map == (first_arm == "with_uncertainty") == s.visibility().uncertainty_allowed
        assert win.patient.uncertainty("CTVT_427") is not None
        if observer == "obs1":
            seen = _drive_dialog([_later])
            _work_step(mode)
            assert len(seen) == 1 and seen[0][0] == "Step 1 finished: questionnaire"
            # a washout of 0: asked over the finished step, before step 2's first case loads
            assert seen[0][2].endswith("(step 1)"), seen[0][2]
            assert win.windowTitle().endswith("(step 2)")
            assert s.questionnaire_due() == 1  # put off: still due, and offered in the menu
            assert mode.questionnaire_action.isVisible() and mode.questionnaire_action.isEnabled()
            seen = _drive_dialog([_submit_without_required, _fill_and_submit])
            mode.questionnaire_action.trigger()
            assert [p for _, p, _ in seen] == [
                "",
                "the questionnaire of step 1 needs an answer to 'How demanding was this step?' (workload)",
            ]
        else:
            _drive_dialog([_fill_and_submit])
            _work_step(mode)
        assert s.questionnaire_due() is None and not mode.questionnaire_action.isEnabled()
        assert s.step_answers(1)["workload"].value == 2
        # step 2 shows the other arm
        plan = case_plan(win.patient, s)
        assert any(v.kind == "uncertainty" for v in plan.volumes) == (orders[observer][1] == "with_uncertainty")
        mode.end()
    saved = json.loads((crossover / "sessions" / "obs1.json").read_text())
    rec = next(r for r in saved["steps"] if r["step"] == 1)
    assert rec["questionnaire"]["workload"]["value"] == 2 and rec["questionnaire"]["remarks"]["value"] == (
        "the fold view helped"
    )
    export_study(crossover)
    with open(crossover / "export" / "step_questionnaire.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["observer"], r["step"], r["arm"], r["question"]) for r in rows] == [
        ("obs1", "1", orders["obs1"][0], "workload"),
        ("obs1", "1", orders["obs1"][0], "remarks"),
        ("obs2", "1", orders["obs2"][0], "workload"),
    ]
    with open(crossover / "export" / "results.csv", newline="") as fh:
        results = list(csv.DictReader(fh))
    assert {(r["observer"], r["step"], r["arm"]) for r in results} == {
        (o, str(k), orders[o][k - 1]) for o in ("obs1", "obs2") for k in (1, 2)
    }


def test_an_arm_that_shows_the_fold_contours_has_them_on_when_a_case_opens(study_window, dataset, tmp_path, qtbot):
    d = _crossover_study(
        dataset, tmp_path / "study", arms=["without", "folds"], arm_specs=["folds:show=folds,hide=uncertainty"]
    )
    orders = json.loads((d / "study.json").read_text())["arm_orders"]
    win, mode = study_window()
    for observer in ("obs1", "obs2"):
        assert mode.start(d, observer)
        s, frame = mode.session, win.patient.reference_frame
        folds = [
            (name, src, frame.name)
            for name, src in frame.structures
            if src.startswith("nnUNet_fold_") and name in s.structures
        ]
        assert len(folds) == 10 * len(s.structures)
        shown = {win.state.style(k).visible for k in folds}
        # shown as the aid of the arm, like the map of an arm that shows it; never in the arm without
        assert shown == {orders[observer][0] == "folds"}
        if orders[observer][0] == "folds":
            assert all(win.state.is_shown(k) for k in folds)
        mode.end()
    assert {tuple(o) for o in orders.values()} == {("without", "folds"), ("folds", "without")}
