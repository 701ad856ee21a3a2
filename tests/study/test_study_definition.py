"""study init: the content of study.json, its defaults, and what init refuses."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from lundprobe_gui.study import (
    AI_ACCEPTABILITY_5,
    CorruptStudyFile,
    InitOptions,
    ObserverSession,
    StudyError,
    init_study,
    load_study,
    read_audit,
)
from lundprobe_gui.study.secret import AdminSecret

from .helpers import T0

PATIENTS = ["LUNDPROBE_0433", "LUNDPROBE_0434", "LUNDPROBE_0435"]


@pytest.mark.slow
def test_init_writes_the_published_protocol_by_default(study_dir, study_dataset):
    raw = (study_dir / "study.json").read_bytes()
    d = json.loads(raw)
    assert d["format"] == "lundprobe_gui.study" and d["format_version"] == 3
    # the published design: everyone sees the built-in arms in the listed order, no end-of-step questionnaire
    assert d["design"] == "sequential" and d["step_questions"] == []
    assert d["arm_orders"] == {o: ["without", "with_uncertainty"] for o in ("obsX", "obsY")}
    # stored relative to the study folder, so the two can move together
    assert (
        not d["dataset_root"].startswith("/") and (study_dir / d["dataset_root"]).resolve() == study_dataset.resolve()
    )
    assert d["patients"] == PATIENTS
    assert d["structures"] == ["CTVT_427", "Rectum"]
    assert d["observers"] == ["obsX", "obsY"]
    assert d["start_source"] == "nnUNet" and d["frame"] == "MRI"
    assert (
        d["randomisation"]["seed"] == 11 and d["randomisation"]["key"] == "<seed>|<observer>|<step>|<attempt>|<patient>"
    )
    assert d["washout_days"] == 28 and d["idle_timeout_seconds"] == 60 and d["idle_tail_seconds"] == 10
    assert d["show_clock"] is False and d["observer_pins"] == {} and d["uncertainty_missing"] == {}
    assert d["admin"] is None and d["preset"] == "reader-study"
    s1, s2 = d["steps"]
    assert (s1["step"], s1["show_uncertainty"], s1["arm"]) == (1, False, "without")
    assert s2["arm"] == "with_uncertainty"
    assert (s2["step"], s2["show_uncertainty"], s2["uncertainty_scale"], s2["uncertainty_range"]) == (
        2,
        True,
        "fixed",
        [0.0, 0.5],
    )
    for s in (s1, s2):
        assert set(s["hidden"]) == {"clinical", "folds", "other_observers", "other_steps", "dose"}
        assert s["uncertainty_colours"] == "rainbow" and s["tools"] is None  # the dose is hidden: the published scale
    q = {x["id"]: x for x in d["questions"]}
    assert list(q) == ["quality", "confidence", "comment"]
    assert [c["value"] for c in q["quality"]["choices"]] == [1, 2, 3, 4] and q["quality"]["required"]
    assert [c["value"] for c in q["confidence"]["choices"]] == [1, 2, 3, 4, 5] and q["confidence"]["required"]
    assert q["comment"]["kind"] == "text" and not q["comment"]["required"]
    assert "DL segmentation" in q["confidence"]["text"]  # the published study rated confidence in the DL mask
    assert (study_dir / "sessions").is_dir() and (study_dir / "output").is_dir()
    audit = read_audit(study_dir)
    assert [e["event"] for e in audit] == ["study_created"]
    # sealed: the audit line holds the file's sha256 and this computer's clock, whatever time was injected
    assert audit[0]["definition_sha256"] == hashlib.sha256(raw).hexdigest()
    assert audit[0]["time"].startswith("2025-03-03") and not audit[0]["logged_at"].startswith("2025-03-03")
    # the shown files of each patient with their hashes, for checking a copy of the dataset
    for pid in PATIENTS:
        files = d["patient_files"][pid]
        assert "MR_StorT2/image.nii.gz" in files and any("nnUNet" in f for f in files)
        f = study_dataset / pid / "MR_StorT2" / "image.nii.gz"
        assert files["MR_StorT2/image.nii.gz"] == {
            "sha256": hashlib.sha256(f.read_bytes()).hexdigest(),
            "size": f.stat().st_size,
        }
    # the definition reads back to the same object
    assert load_study(study_dir).to_dict() == d


def test_ai_acceptability_preset_uses_the_dataset_table(study_dataset, tmp_path):
    st = init_study(
        tmp_path / "s", InitOptions(dataset_root=study_dataset, observers=["a"], preset="ai-acceptability", seed=1)
    )
    q = st.question("quality")
    assert [c.value for c in q.choices] == [1, 2, 3, 4, 5]
    assert q.choices == AI_ACCEPTABILITY_5
    assert q.choices[4].label.startswith("Strongly agree: use as is") and q.choices[0].label.endswith("unusable")


@pytest.mark.slow
def test_explicit_options_are_recorded(study_dataset, tmp_path):
    st = init_study(
        tmp_path / "s",
        InitOptions(
            dataset_root=study_dataset,
            patients=["LUNDPROBE_0434"],
            structures=["Rectum"],
            observers=["B-1", "c_2"],
            seed=99,
            washout_days=14,
            idle_timeout_s=90,
            admin_pin="correct horse",
        ),
    )
    assert st.patients == ("LUNDPROBE_0434",) and st.structures == ("Rectum",)
    assert st.observers == ("B-1", "c_2") and st.seed == 99 and st.washout_days == 14 and st.idle_timeout_s == 90
    text = (tmp_path / "s" / "study.json").read_text()
    assert "correct horse" not in text  # only the salted hash is stored
    assert st.admin.verify("correct horse") and not st.admin.verify("wrong horse")


@pytest.mark.slow
def test_seed_is_drawn_and_recorded_when_not_given(study_dataset, tmp_path):
    a = init_study(tmp_path / "a", InitOptions(dataset_root=study_dataset, observers=["a"]))
    assert isinstance(a.seed, int) and load_study(tmp_path / "a").seed == a.seed


@pytest.mark.parametrize("observers", [["../evil"], ["obs/X"], ["obs X"], ["obsX", "obsX"], ["obs.X"], []])
@pytest.mark.slow
def test_bad_observer_lists_are_refused_and_nothing_is_written(study_dataset, tmp_path, observers):
    with pytest.raises(StudyError):
        init_study(tmp_path / "s", InitOptions(dataset_root=study_dataset, observers=observers))
    assert not (tmp_path / "s" / "study.json").exists()


@pytest.mark.slow
def test_init_never_overwrites_a_study(study_dir, study_dataset):
    before = (study_dir / "study.json").read_bytes()
    with pytest.raises(StudyError, match="already holds a study"):
        init_study(study_dir, InitOptions(dataset_root=study_dataset, observers=["obsZ"]))
    assert (study_dir / "study.json").read_bytes() == before


@pytest.mark.slow
def test_patients_without_the_start_masks(study_dataset, tmp_path):
    ds = tmp_path / "ds"
    shutil.copytree(study_dataset, ds)
    shutil.rmtree(ds / "LUNDPROBE_0434" / "MR_StorT2" / "nnUNetOutput")
    st = init_study(tmp_path / "s", InitOptions(dataset_root=ds, observers=["a"]))
    assert st.patients == ("LUNDPROBE_0433", "LUNDPROBE_0435")  # left out by default
    with pytest.raises(StudyError, match="LUNDPROBE_0434: no nnUNet mask"):
        init_study(tmp_path / "s2", InitOptions(dataset_root=ds, observers=["a"], patients=["LUNDPROBE_0434"]))
    with pytest.raises(StudyError, match="NOPE"):
        init_study(tmp_path / "s3", InitOptions(dataset_root=ds, observers=["a"], patients=["NOPE"]))
    with pytest.raises(StudyError):
        init_study(tmp_path / "s4", InitOptions(dataset_root=ds, observers=["a"], patients=["../LUNDPROBE_0433"]))


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t[: len(t) // 2],  # truncated
        lambda t: t.replace('"observers"', '"observerz"'),  # missing field
        lambda t: t.replace('"obsY"', '"../obsY"'),  # unsafe observer
        lambda t: t.replace('"washout_days": 28.0', '"washout_days": -1'),
        lambda t: t.replace('"idle_tail_seconds": 10.0', '"idle_tail_seconds": 500'),  # a tail over the threshold
        lambda t: "\x00\xff" + t,
    ],
)
@pytest.mark.slow
def test_corrupt_study_json_gives_a_clear_error_and_is_left_alone(study_dir, damage):
    path = study_dir / "study.json"
    bad = damage(path.read_text())
    path.write_text(bad, encoding="latin-1")
    before = path.read_bytes()
    with pytest.raises(CorruptStudyFile) as e:
        load_study(study_dir)
    assert str(path) in str(e.value)
    with pytest.raises(CorruptStudyFile):
        ObserverSession(study_dir, "obsX", now=T0)
    assert path.read_bytes() == before
    assert not (study_dir / "sessions" / "obsX.json").exists()


def test_not_a_study_folder(tmp_path):
    with pytest.raises(CorruptStudyFile, match="not a study folder"):
        load_study(tmp_path)


def test_admin_secret_round_trip():
    s = AdminSecret.create("1234", iterations=1000)
    assert AdminSecret.from_dict(s.to_dict()) == s and s.verify("1234") and not s.verify("") and not s.verify(None)
    with pytest.raises(ValueError, match=r"at least 4 characters"):
        AdminSecret.create("12")
