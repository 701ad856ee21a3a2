"""study init options against confounds: the dose, uncertainty maps, questions, PINs, dataset copies, the recipe."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from lundprobe_gui.render.state import ViewerState
from lundprobe_gui.study import (
    InitOptions,
    ObserverSession,
    StudyError,
    case_plan,
    export_study,
    init_study,
    load_study,
    read_audit,
    recompute_active_time,
)

from .helpers import T0, lp, rate_all

PATIENTS = ["LUNDPROBE_0433", "LUNDPROBE_0434", "LUNDPROBE_0435"]


def _rows(study: Path) -> list[dict]:
    with open(study / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


# -- the dose ---------------------------------------------------------------------------------------------------
def test_the_dose_is_hidden_in_both_steps_by_default_and_the_map_keeps_the_published_rainbow(study_dir):
    st = load_study(study_dir)
    with ObserverSession(study_dir, "obsX", now=T0) as s:
        vis = s.visibility()
        assert not vis.dose_allowed and vis.uncertainty_colours == "rainbow"
        state = ViewerState()
        vis.apply(state, s.patient().sources())
        assert not state.dose_allowed and not state.dose.wash and not state.dose.lines
        s.close(now=T0 + 1)
    for rules in st.steps:
        assert "dose" in rules.hidden and rules.uncertainty_colours == "rainbow" and not rules.dose_shown


def test_a_study_that_shows_the_dose_gets_a_distinct_scale_for_the_map(study_dataset, tmp_path):
    r = lp("init", tmp_path / "s", "--dataset", study_dataset, "--observers", "a", "--seed", "1", "--show-dose")
    assert r.returncode == 0, r.stderr
    assert "the dose is shown" in r.stdout
    d = json.loads((tmp_path / "s" / "study.json").read_text())
    for step in d["steps"]:
        assert "dose" not in step["hidden"] and step["uncertainty_colours"] == "magenta"  # recorded
    with ObserverSession(tmp_path / "s", "a", now=T0) as s:
        assert s.visibility().dose_allowed
        s.close(now=T0 + 1)


# -- uncertainty maps ---------------------------------------------------------------------------------------------
@pytest.fixture()
def no_rectum_map(study_dataset, tmp_path) -> Path:
    ds = tmp_path / "ds"
    shutil.copytree(study_dataset, ds)
    os.unlink(ds / "LUNDPROBE_0434" / "MR_StorT2" / "nnUNetOutput" / "mask_Rectum_nnUNet_uncertaintyMap.nii.gz")
    return ds


def test_init_refuses_patients_without_the_maps_step_2_shows_or_records_them(no_rectum_map, tmp_path):
    ds = no_rectum_map
    with pytest.raises(StudyError, match="LUNDPROBE_0434: no map for Rectum"):
        init_study(tmp_path / "a", InitOptions(dataset_root=ds, observers=["o"], patients=PATIENTS, seed=1))
    assert not (tmp_path / "a" / "study.json").exists()
    opts = InitOptions(dataset_root=ds, observers=["o"], seed=1)
    st = init_study(tmp_path / "b", opts)  # chosen automatically: left out, with the reason
    assert st.patients == ("LUNDPROBE_0433", "LUNDPROBE_0435")
    assert any("LUNDPROBE_0434 left out: no uncertainty map for Rectum" in n for n in opts.notes)
    r = lp("init", tmp_path / "c", "--dataset", ds, "--observers", "o", "--seed", "1", "--allow-missing-uncertainty")
    assert r.returncode == 0 and "uncertainty_available = 0" in r.stderr
    st = load_study(tmp_path / "c")
    assert st.uncertainty_missing == {"LUNDPROBE_0434": ("Rectum",)} and len(st.patients) == 3
    export_study(tmp_path / "c")
    got = {(r["step"], r["patient"], r["structure"]): r["uncertainty_available"] for r in _rows(tmp_path / "c")}
    assert got[("2", "LUNDPROBE_0434", "Rectum")] == "0" and got[("2", "LUNDPROBE_0434", "CTVT_427")] == "1"
    assert got[("2", "LUNDPROBE_0433", "Rectum")] == "1"


def test_the_time_the_map_was_on_screen_is_counted_apart(study_dir):
    s = ObserverSession(study_dir, "obsX", now=T0)
    t = T0
    for _ in range(3):
        t = rate_all(s, t)
        s.finish_case(now=t)
        t += 10
    s.close(now=t)
    assert lp("override-washout", study_dir, "--observer", "obsX", "--admin").returncode == 0
    s = ObserverSession(study_dir, "obsX", now=t + 5)
    s.activity(now=t + 10)  # step 2's case begins with this input (nothing before it counts); the map is shown
    s.activity(now=t + 40)  # 30 s with it
    s.set_uncertainty_shown(False, now=t + 50)  # +10 s with it, then switched off
    s.activity(now=t + 70)  # 20 s without
    s.set_uncertainty_shown(True, now=t + 80)  # 10 s without
    s.activity(now=t + 85)  # 5 s with
    s.close(now=t + 85)
    export_study(study_dir)
    row = next(
        r for r in _rows(study_dir) if r["step"] == "2" and r["pseudonym"] == "Case 01" and r["structure"] == "CTVT_427"
    )
    assert float(row["active_seconds"]) == pytest.approx(30 + 10 + 20 + 10 + 5, abs=0.05)
    assert float(row["uncertainty_visible_seconds"]) == pytest.approx(30 + 10 + 5, abs=0.05)
    again = {(r.step, r.structure, r.patient): r for r in recompute_active_time(study_dir)}
    rec = again[(2, "CTVT_427", row["patient"])]
    assert rec.uncertainty_visible_seconds == pytest.approx(45, abs=0.05)
    step1 = [r for r in _rows(study_dir) if r["step"] == "1" and r["observer"] == "obsX"]
    assert step1 and all(float(r["uncertainty_visible_seconds"]) == 0 for r in step1)  # step 1 never shows the map


# -- questions -----------------------------------------------------------------------------------------------------
def test_questions_scales_and_anchors_come_from_a_file(study_dataset, tmp_path):
    qfile = tmp_path / "q.json"
    qfile.write_text(
        json.dumps(
            {
                "questions": [
                    {
                        "id": "quality",
                        "kind": "likert",
                        "text": "Would you use this DL contour clinically?",
                        "required": True,
                        "scale": "use_3",
                        "choices": [
                            {"value": 1, "label": "No"},
                            {"value": 2, "label": "After edits"},
                            {"value": 3, "label": "As is"},
                        ],
                    },
                    {
                        "id": "confidence",
                        "kind": "likert",
                        "text": "How confident are you in the DL segmentation?",
                        "choices": [{"value": v, "label": f"level {v}"} for v in range(1, 8)],
                    },
                    {"id": "hardest_region", "kind": "text", "text": "Hardest region?", "required": False},
                ]
            }
        )
    )
    r = lp("init", tmp_path / "s", "--dataset", study_dataset, "--observers", "a", "--seed", "1", "--questions", qfile)
    assert r.returncode == 0, r.stderr
    st = load_study(tmp_path / "s")
    assert [q.id for q in st.questions] == ["quality", "confidence", "hardest_region"]
    assert [c.label for c in st.question("quality").choices] == ["No", "After edits", "As is"]
    with ObserverSession(tmp_path / "s", "a", now=T0) as s:
        with pytest.raises(StudyError, match="not on the scale"):
            s.rate("quality", 4, now=T0 + 1)
        s.rate("confidence", 7, now=T0 + 2)
        s.rate("hardest_region", "apex", now=T0 + 3)
        s.close(now=T0 + 4)
    export_study(tmp_path / "s")
    with open(tmp_path / "s" / "results.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header[header.index("comment") + 1] == "hardest_region"
    row = _rows(tmp_path / "s")[0]
    assert row["confidence"] == "7" and row["hardest_region"] == "apex"
    for bad, why in (
        ([{"id": "patient", "kind": "text", "text": "x"}], "not a name of another"),
        ([{"id": "q", "kind": "likert", "text": "x", "choices": [{"value": 1, "label": "a"}]}], "two distinct"),
        ({"questions": "none"}, "list of questions"),
    ):
        qfile.write_text(json.dumps(bad))
        r = lp("init", tmp_path / "t", "--dataset", study_dataset, "--observers", "a", "--questions", qfile)
        assert r.returncode == 2 and why in r.stderr and "q.json" in r.stderr, r.stderr
        assert not (tmp_path / "t").exists()


# -- PINs and observer IDs ---------------------------------------------------------------------------------------------
def test_observer_pins_and_no_list_of_ids_after_a_typo(study_dataset, tmp_path):
    pins = tmp_path / "pins.json"
    pins.write_text(json.dumps({"obsX": "4711", "obsY": "0815"}))
    r = lp("init", tmp_path / "s", "--dataset", study_dataset, "--observers", "obsX", "obsY", "--observer-pins", pins)
    assert r.returncode == 0 and "PINs for 2 observer(s)" in r.stdout
    assert "4711" not in (tmp_path / "s" / "study.json").read_text()
    d = tmp_path / "s"
    for pin in (None, "0815", "47110"):
        with pytest.raises(StudyError) as e:
            ObserverSession(d, "obsX", pin=pin, now=T0)
        assert "not accepted" in str(e.value) and "obsY" not in str(e.value)
    with pytest.raises(StudyError) as e:
        ObserverSession(d, "obsZ", pin="4711", now=T0)  # a typo in the ID: the same answer, no list
    assert "not accepted" in str(e.value) and "obsX" not in str(e.value) and "obsY" not in str(e.value)
    with ObserverSession(d, "obsX", pin="4711", now=T0) as s:
        assert s.observer == "obsX"
        s.close(now=T0 + 1)
    assert [e["event"] for e in read_audit(d)].count("observer_refused") == 4
    # the administrator's commands do not need the observer's PIN
    assert lp("break-lock", d, "--observer", "obsX", "--admin").returncode == 2  # no lock: refused for that reason only


def test_an_unknown_observer_is_refused_without_listing_the_others(study_dir):
    with pytest.raises(StudyError) as e:
        ObserverSession(study_dir, "obsx", now=T0)
    assert "not an observer" in str(e.value) and "obsY" not in str(e.value)


# -- the dataset: relative root and local copies -----------------------------------------------------------------------
def test_a_study_and_its_dataset_move_together_and_a_copy_is_checked_by_hashes(study_dataset, tmp_path):
    site = tmp_path / "site1"
    shutil.copytree(study_dataset, site / "ds")
    init_study(site / "study", InitOptions(dataset_root=site / "ds", observers=["a"], seed=1), now=T0)
    assert load_study(site / "study").dataset_root == "../ds"
    moved = tmp_path / "moved"
    shutil.move(site, moved)
    with ObserverSession(moved / "study", "a", now=T0) as s:
        assert s.patient().id in PATIENTS and not s.dataset_copy
        s.close(now=T0 + 1)
    # on the same computer the study folder alone may move: the absolute root recorded at init still holds
    alone = tmp_path / "elsewhere" / "study"
    alone.parent.mkdir()
    init_study(tmp_path / "s2", InitOptions(dataset_root=moved / "ds", observers=["a"], seed=1), now=T0)
    shutil.move(tmp_path / "s2", alone)
    with ObserverSession(alone, "a", now=T0) as s:
        assert s.patient().id in PATIENTS and s.dataset_root == moved / "ds"
        s.close(now=T0 + 1)
    # another site: the study folder alone, and a local copy of the dataset somewhere else
    copy = tmp_path / "local-copy"
    shutil.copytree(moved / "ds", copy)
    with ObserverSession(moved / "study", "a", dataset_root=copy, now=T0 + 2) as s:
        assert s.dataset_copy
        pid = s.patient().id  # checked, then opened
        pseudonym = s.current_case().pseudonym
        s.close(now=T0 + 3)
    img = copy / pid / "MR_StorT2" / "image.nii.gz"
    data = bytearray(img.read_bytes())
    data[-100] ^= 0xFF  # not the study's image any more (same size)
    img.write_bytes(bytes(data))
    with ObserverSession(moved / "study", "a", dataset_root=copy, now=T0 + 4) as s:
        with pytest.raises(StudyError) as e:
            s.patient()
        assert pseudonym in str(e.value) and "sha256" in str(e.value) and pid not in str(e.value)
        s.close(now=T0 + 5)
    st = load_study(moved / "study")
    digest = st.patient_files[pid]["MR_StorT2/image.nii.gz"]["sha256"]
    assert digest != hashlib.sha256(img.read_bytes()).hexdigest()


# -- the randomisation recipe ------------------------------------------------------------------------------------------
def _order_from_recipe(recipe: dict, patients: list[str], seed: int, observer: str, step: int) -> list[str]:
    """An independent reading of study.json's recipe."""
    earlier = [_order_from_recipe(recipe, patients, seed, observer, k) for k in range(1, step)]
    order: list[str] = []
    for attempt in range(64):
        key = recipe["key"]

        def digest(p: str, attempt: int = attempt, key: str = key) -> bytes:
            text = (
                key.replace("<seed>", str(seed))
                .replace("<observer>", observer)
                .replace("<step>", str(step))
                .replace("<attempt>", str(attempt))
                .replace("<patient>", p)
            )
            return hashlib.sha256(text.encode("utf-8")).digest()

        order = sorted(patients, key=digest)
        if order not in earlier:
            return order
    return order


def test_the_recorded_recipe_reproduces_the_orders_including_the_attempt(study_dataset, tmp_path):
    # two patients: step 2 repeats step 1's order on attempt 0 for some observers, so the attempt matters
    init_study(
        tmp_path / "s",
        InitOptions(dataset_root=study_dataset, observers=[f"o{i}" for i in range(8)], patients=PATIENTS[:2], seed=5),
        now=T0,
    )
    d = json.loads((tmp_path / "s" / "study.json").read_text())
    recipe = d["randomisation"]
    assert "<attempt>" in recipe["key"] and "attempt" in recipe["attempt"]
    used_attempt = False
    for o in d["observers"]:
        for step in (1, 2):
            mine = [c.patient for c in case_plan(d["patients"], recipe["seed"], o, step)]
            assert mine == _order_from_recipe(recipe, d["patients"], recipe["seed"], o, step)
        first = _order_from_recipe({**recipe}, d["patients"], recipe["seed"], o, 1)
        naive = sorted(d["patients"], key=lambda p: hashlib.sha256(f"{recipe['seed']}|{o}|2|0|{p}".encode()).digest())
        used_attempt |= naive == first
    assert used_attempt  # at least one observer needed attempt 1 in step 2
