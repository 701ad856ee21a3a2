"""Arms and designs (sequential, crossover), the ``arm`` column, and the end-of-step questionnaire."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from lundprobe_gui.cli import main
from lundprobe_gui.demo import DemoOptions, generate
from lundprobe_gui.study import InitOptions, ObserverSession, Question, StudyError, init_study, load_study
from lundprobe_gui.study.arms import ArmSpecError, parse_arm
from lundprobe_gui.study.design import arm_orders, williams_rows
from lundprobe_gui.study.reading import read_study_outputs
from lundprobe_gui.study.simulate import run_observers

from .helpers import T0, work_case

STEP_QUESTIONS = [
    Question.from_dict(
        {
            "id": "workload",
            "kind": "likert",
            "text": "How demanding was this step?",
            "required": True,
            "choices": [{"value": v, "label": str(v)} for v in (1, 2, 3)],
        }
    ),
    Question.from_dict({"id": "remarks", "kind": "text", "text": "Anything else?", "required": False}),
]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# -- designs -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_crossover_orders_are_balanced_deterministic_and_a_later_observer_takes_the_next_row(k):
    arms = [f"arm{i}" for i in range(k)]
    rows = len(williams_rows(k))
    assert rows == (k if k % 2 == 0 else 2 * k)
    observers = [f"o{i}" for i in range(2 * rows)]
    orders = arm_orders("crossover", arms, observers, seed=42)
    assert all(sorted(o) == arms for o in orders.values())
    for position in range(k):  # every arm equally often at every position
        assert set(Counter(o[position] for o in orders.values()).values()) == {2 * rows // k}
    # carry-over balance: every arm follows every other arm equally often (Williams)
    follows = Counter((o[i], o[i + 1]) for o in orders.values() for i in range(k - 1))
    assert len(follows) == k * (k - 1) and len(set(follows.values())) == 1
    assert arm_orders("crossover", arms, observers, seed=42) == orders  # the seed decides
    assert len({json.dumps(arm_orders("crossover", arms, observers, seed=s)) for s in range(12)}) > 1
    more = arm_orders("crossover", arms, [*observers, "late"], seed=42)
    assert {o: more[o] for o in observers} == orders and more["late"] == orders[observers[0]]
    assert set(arm_orders("sequential", arms, observers, seed=42).values()) == {tuple(arms)}


def test_arm_rules_syntax_and_its_one_line_errors():
    folds = parse_arm("folds:show=folds,hide=uncertainty")
    assert folds.arm == "folds" and not folds.show_uncertainty and "folds" not in folds.hidden
    assert {"clinical", "other_observers", "other_steps", "dose"} <= set(folds.hidden)
    both = parse_arm("both:show=uncertainty+folds+dose,scale=per_map,tools=brush+eraser")
    assert both.show_uncertainty and both.uncertainty_scale == "per_map" and both.tools == ("brush", "eraser")
    assert both.dose_shown and both.uncertainty_colours == "magenta"  # the dose is shown: the distinct scale
    for bad, why in [
        ("folds", "expected NAME:RULES"),
        ("Folds:show=folds", "lower-case"),
        ("../x:show=folds", "lower-case"),
        ("folds:show=fold", "cannot show fold"),
        ("folds:colour=red", "unknown key"),
        ("folds:show=folds,show=dose", "given twice"),
        ("without:show=dose", "built-in"),
        ("folds:scale=log", "fixed or per_map"),
    ]:
        with pytest.raises(ArmSpecError, match=why) as e:
            parse_arm(bad)
        assert "\n" not in str(e.value)


def test_init_cli_defines_arms_and_refuses_bad_ones(study_dataset, tmp_path, capsys):
    d = tmp_path / "s"
    args = ["study", "init", str(d), "--dataset", str(study_dataset), "--observers", "o1", "o2", "o3", "o4"]
    for extra, why in [
        (["--arm", "folds"], "NAME:RULES"),
        (["--arm", "folds:show=folds", "--arms", "without", "with_uncertainty"], "defined but not listed"),
        (["--arms", "without", "heat"], "not a built-in arm"),
        (["--arms", "without", "without"], "twice"),
        (["--design", "crossover", "--arms", "without"], "at least two arms"),
    ]:
        assert main([*args, *extra]) == 2
        assert why in capsys.readouterr().err and not d.exists()
    extra = ["--seed", "9", "--design", "crossover", "--arm", "folds:show=folds", "--arms", "without", "folds"]
    assert main([*args, *extra, "--arms", "without", "with_uncertainty", "folds"]) == 0
    out = capsys.readouterr().out
    study = load_study(d)
    assert study.design == "crossover" and [a.arm for a in study.arms] == ["without", "with_uncertainty", "folds"]
    assert all(f"{o}: " + " -> ".join(study.arm_orders[o]) in out for o in study.observers)
    raw = json.loads((d / "study.json").read_text())
    assert raw["arm_orders"] == {
        o: list(v) for o, v in arm_orders("crossover", [a.arm for a in study.arms], study.observers, 9).items()
    }
    assert raw["arm_order_recipe"]["method"] == "Williams design"


# -- what each observer is shown -------------------------------------------------------------------------
@pytest.fixture()
def crossover(study_dataset, tmp_path) -> Path:
    d = tmp_path / "crossover"
    init_study(
        d,
        InitOptions(
            dataset_root=study_dataset,
            observers=["obsX", "obsY"],
            seed=11,
            washout_days=0,
            design="crossover",
            arm_specs=["folds:show=folds"],
            arms=["with_uncertainty", "folds"],
            step_questions=STEP_QUESTIONS,
        ),
        now=T0,
    )
    return d


def test_each_observer_sees_the_arm_the_design_gives_and_results_record_it(crossover):
    study = load_study(crossover)
    orders = study.arm_orders
    assert {orders["obsX"], orders["obsY"]} == {("with_uncertainty", "folds"), ("folds", "with_uncertainty")}
    for obs in ("obsX", "obsY"):
        with ObserverSession(crossover, obs, now=T0) as s:
            t = T0 + 1
            for k in (1, 2):
                vis = s.visibility(now=t)
                view = s.current_case(now=t)
                arm = orders[obs][k - 1]
                assert view.step == k and vis.step == k
                assert vis.uncertainty_allowed == (arm == "with_uncertainty")
                assert s.can_open("nnUNet_fold_3", now=t) == (arm == "folds")
                assert not s.can_open("clinical", now=t)
                assert view.step_title.startswith(f"Step {k}: ")
                while (v := s.current_case(now=t)) is not None and v.step == k:
                    t = work_case(s, t)
                assert s.questionnaire_due() == k
                s.answer_step_questionnaire(k, {"workload": k}, now=t)
                t += 1
    out = read_study_outputs(crossover, need_dataset=False)
    assert {(r["observer"], r["step"], r["arm"]) for r in out.results} == {
        (o, k, orders[o][k - 1]) for o in ("obsX", "obsY") for k in (1, 2)
    }
    # the uncertainty time is counted only where the arm shows the map
    for r in out.results:
        assert (r["uncertainty_visible_seconds"] > 0) == (r["arm"] == "with_uncertainty")


# -- the questionnaire through the observer API -----------------------------------------------------------
def test_the_questionnaire_is_asked_after_a_step_saved_and_refused_when_wrong(crossover):
    with ObserverSession(crossover, "obsX", now=T0) as s:
        t = work_case(s, T0 + 1)
        assert s.questionnaire_due() is None  # the step is not finished yet
        with pytest.raises(StudyError, match="not finished"):
            s.answer_step_questionnaire(1, {"workload": 2}, now=t)
        while s.current_case(now=t) is not None and s.current_case(now=t).step == 1:
            t = work_case(s, t)
        assert s.questionnaire_due() == 1
        for answers, why in [
            ({"remarks": "ok"}, "needs an answer to 'How demanding was this step?' (workload)"),
            ({"workload": 7}, "not on the scale"),
            ({"workload": 2, "mood": "x"}, "asks no mood"),
        ]:
            with pytest.raises(StudyError, match=re.escape(why)):
                s.answer_step_questionnaire(1, answers, now=t)
        assert s.questionnaire_due() == 1 and s.step_answers(1) == {}  # nothing half-stored
    with ObserverSession(crossover, "obsX", now=t + 5) as s:  # still due after a restart
        assert s.questionnaire_due() == 1
        s.answer_step_questionnaire(1, {"workload": 3, "remarks": "=SUM(A1)"}, now=t + 6)
        with pytest.raises(StudyError, match="was submitted"):
            s.answer_step_questionnaire(1, {"workload": 1}, now=t + 7)
    saved = json.loads((crossover / "sessions" / "obsX.json").read_text())
    step1 = next(r for r in saved["steps"] if r["step"] == 1)
    assert {q: a["value"] for q, a in step1["questionnaire"].items()} == {"workload": 3, "remarks": "=SUM(A1)"}
    assert main(["study", "export", str(crossover)]) == 0
    rows = read_csv(crossover / "export" / "step_questionnaire.csv")
    arm = load_study(crossover).arm_orders["obsX"][0]
    assert [(r["observer"], r["step"], r["arm"], r["question"]) for r in rows] == [
        ("obsX", "1", arm, "workload"),
        ("obsX", "1", arm, "remarks"),
    ]
    assert rows[0]["answer"] == "3" and rows[1]["answer"] != "=SUM(A1)"  # a formula is made safe for spreadsheets


# -- old files -----------------------------------------------------------------------------------------------
def test_an_old_definition_reads_as_sequential_and_an_old_export_derives_the_arm(study_dir, tmp_path):
    raw = json.loads((study_dir / "study.json").read_text())
    old = {k: v for k, v in raw.items() if k not in ("design", "arm_orders", "step_questions")}
    old["format_version"] = 2
    for s in old["steps"]:
        del s["arm"]
    from lundprobe_gui.study.definition import StudyDefinition

    d = StudyDefinition.from_dict(old)
    assert d.design == "sequential" and [a.arm for a in d.arms] == ["without", "with_uncertainty"]
    assert d.rules_for("obsY", 2).show_uncertainty and d.arm_of("obsX", 1) == "without"
    with ObserverSession(study_dir, "obsX", now=T0) as s:
        work_case(s, T0 + 1)
    assert main(["study", "export", str(study_dir)]) == 0
    export = study_dir / "export"
    rows = read_csv(export / "results.csv")
    assert {r["arm"] for r in rows} == {"without", "with_uncertainty"}
    # an export of an earlier version: no arm column, and a version-2 definition
    with open(export / "results.csv", "w", newline="", encoding="utf-8") as fh:
        cols = [c for c in rows[0] if c != "arm"]
        w = csv.DictWriter(fh, cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    record = json.loads((export / "study_definition.json").read_text())
    record["definition"] = {**old, "admin": None}
    (export / "study_definition.json").write_text(json.dumps(record))
    out = read_study_outputs(export, need_dataset=False)
    assert "arm" not in out.columns and out.definition.format_version == 2
    assert {(r["step"], r["arm"]) for r in out.results} == {(1, "without"), (2, "with_uncertainty")}


# -- the report compares arms within an observer ------------------------------------------------------------------
@pytest.mark.slow
def test_report_tests_arms_within_observers_as_scipy_does_and_lists_the_answers(tmp_path):
    root = tmp_path / "ds"
    generate(root, DemoOptions(patients=3, part="extended", size="small", seed=5))
    study = tmp_path / "study"
    init_study(
        study,
        InitOptions(
            dataset_root=root,
            observers=["obs1", "obs2"],
            seed=4,
            washout_days=0,
            design="crossover",
            step_questions=STEP_QUESTIONS,
        ),
        now=1.7e9,
    )
    run_observers(study, ["obs1", "obs2"], seed=5, start=1.7e9 + 60)
    orders = load_study(study).arm_orders
    assert orders["obs1"] != orders["obs2"]
    assert main(["study", "export", str(study)]) == 0
    out = tmp_path / "rep"
    args = ["--scheduler", "sync", "--cache", str(tmp_path / "cache"), "--bootstrap", "200", "--quiet"]
    assert main(["study", "report", str(study / "export"), "--dataset", str(root), "--out", str(out), *args]) == 0
    results = read_csv(study / "export" / "results.csv")
    tests = read_csv(out / "arm_tests.csv")

    def reported(table: str, measure: str, structure: str = "all") -> dict:
        return next(
            r
            for r in tests
            if (r["table"], r["measure"], r["observer"], r["structure"]) == (table, measure, "all", structure)
        )

    # ratings: pairs are (observer, patient, structure), 'without' against 'with_uncertainty', whatever the step
    by = {(r["observer"], r["patient"], r["structure"], r["arm"]): float(r["quality"]) for r in results}
    keys = sorted({k[:3] for k in by})
    a = np.array([by[(*k, "without")] for k in keys])
    b = np.array([by[(*k, "with_uncertainty")] for k in keys])
    row = reported("ratings", "quality")
    assert (row["arm_a"], row["arm_b"], int(row["n"])) == ("without", "with_uncertainty", len(keys))
    if np.any(a != b):
        assert float(row["p_value"]) == pytest.approx(stats.wilcoxon(a, b).pvalue, rel=1e-9)
    # active time per case: the structures' seconds summed, pairs (observer, patient)
    minutes: dict[tuple, float] = {}
    for r in results:
        key = (r["observer"], r["patient"], r["arm"])
        minutes[key] = minutes.get(key, 0.0) + float(r["active_seconds"]) / 60
    cases = sorted({k[:2] for k in minutes})
    a = np.array([minutes[(*k, "without")] for k in cases])
    b = np.array([minutes[(*k, "with_uncertainty")] for k in cases])
    row = reported("active_time", "minutes")
    res = stats.wilcoxon(a, b)
    assert int(row["n"]) == len(cases) and float(row["p_value"]) == pytest.approx(res.pvalue, rel=1e-9)
    assert float(row["statistic"]) == pytest.approx(res.statistic)
    # a crossover's arm test is not its step test: the steps mix the arms
    steps = read_csv(out / "step_tests.csv")
    step_row = next(
        r
        for r in steps
        if (r["table"], r["measure"], r["observer"], r["structure"]) == ("active_time", "minutes", "all", "all")
    )
    assert step_row["median_a"] != row["median_a"] or step_row["median_b"] != row["median_b"]
    # the key figure by arm: each arm's pooled edited voxels per bin are the raw rows of that arm, summed
    edits = read_csv(out / "uncertainty_edits.csv")
    by_arm = [r for r in read_csv(out / "uncertainty_histogram_by_arm.csv") if r["observer"] == "all"]
    assert {r["arm"] for r in by_arm} == {"without", "with_uncertainty"} and all(r["step"] == "" for r in by_arm)
    for r in by_arm:
        raw = [
            int(e["edited_voxels"])
            for e in edits
            if (e["structure"], e["arm"], e["bin_low"]) == (r["structure"], r["arm"], r["bin_low"])
        ]
        assert raw and int(r["edited_voxels"]) == sum(raw)
    assert (out / "fig_uncertainty_histogram_by_arm.png").stat().st_size > 10_000
    answers = read_csv(out / "step_questionnaire.csv")
    assert {(r["observer"], r["step"], r["arm"]) for r in answers if r["question"] == "workload"} == {
        (o, str(k), orders[o][k - 1]) for o in ("obs1", "obs2") for k in (1, 2)
    }
    html = (out / "report.html").read_text()
    assert "crossover" in html and "End-of-step questionnaire" in html and "Arm tests" in html
    # the comparison figures of a crossover are drawn arm against arm, with the arm tests' p-values
    assert "edits, per arm; p from the paired Wilcoxon test" in html and "Ratings per arm" in html
    assert "edits, per step; p from" not in html
    for o in ("obs1", "obs2"):
        assert " then ".join(orders[o]) in html


def test_the_time_spent_on_the_questionnaire_is_credited_to_no_case(crossover):
    with ObserverSession(crossover, "obsY", now=T0) as s:
        t = T0 + 1
        while s.current_case(now=t).step == 1:
            t = work_case(s, t)
        nxt = s.current_case(now=t)  # step 2 is open at once (no washout) and its first case has started
        assert nxt.step == 2 and s.active_seconds(now=t) == 0
        s.answer_step_questionnaire(1, {"workload": 1}, now=t + 40)  # 40 s answering: within the idle timeout
        s.activity(now=t + 42)
        assert s.active_seconds() == pytest.approx(2.0)  # only the 2 s after the submission


def test_an_arm_that_shows_the_folds_needs_them_and_records_their_hashes(study_dataset, tmp_path):
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(study_dataset, root)
    patients = sorted(p.name for p in root.iterdir() if p.is_dir())
    lacking = patients[0]
    shutil.rmtree(root / lacking / "MR_StorT2" / "nnUNetOutput" / "folds")
    folds = ["folds:show=folds,hide=uncertainty"]
    opts = {"observers": ["obs1", "obs2"], "seed": 2, "arms": ["without", "folds"], "arm_specs": folds}
    with pytest.raises(StudyError, match=f"{lacking}: no fold masks for CTVT_427, Rectum"):
        init_study(tmp_path / "named", InitOptions(dataset_root=root, patients=patients, **opts))
    assert not (tmp_path / "named" / "study.json").exists()
    notes: list[str] = []
    init_study(tmp_path / "auto", InitOptions(dataset_root=root, notes=notes, **opts))
    study = load_study(tmp_path / "auto")
    assert list(study.patients) == patients[1:]
    assert f"{lacking} left out: no fold masks for CTVT_427, Rectum, which an arm shows" in notes
    recorded = json.loads((tmp_path / "auto" / "study.json").read_text())["patient_files"]
    for p in study.patients:
        on_disk = sorted(
            f.relative_to(root / p).as_posix() for f in (root / p / "MR_StorT2" / "nnUNetOutput" / "folds").iterdir()
        )
        assert len(on_disk) == 20 and [f for f in recorded[p] if "/folds/" in f] == on_disk
    # without an arm that shows them, the folds are neither needed nor recorded
    init_study(tmp_path / "plain", InitOptions(dataset_root=root, observers=["obs1"], seed=2))
    plain = json.loads((tmp_path / "plain" / "study.json").read_text())
    assert lacking in plain["patients"] and not any("/folds/" in f for v in plain["patient_files"].values() for f in v)
