"""``study merge`` of site exports, and a study's edits laid over the dataset.

The overlay is what ``metrics``, ``dvh`` and ``uncertainty-edits`` read.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from lundprobe_gui.cli import main
from lundprobe_gui.study import InitOptions, init_study
from lundprobe_gui.study.simulate import run_observers

from .helpers import T0

RUN = ["--scheduler", "sync", "--quiet"]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def new_study(dataset: Path, folder: Path, observers: list[str], seed: int = 11, published_ids: bool = False) -> Path:
    opts = InitOptions(
        dataset_root=dataset, observers=observers, seed=seed, washout_days=0, allow_published_ids=published_ids
    )
    init_study(folder, opts, now=T0)
    return folder


@pytest.fixture(scope="module")
def sites(study_dataset, tmp_path_factory) -> dict:
    """One sealed definition run at two sites: obsX at site A, obsY at site B; both exported."""
    base = tmp_path_factory.mktemp("sites")
    a = new_study(study_dataset, base / "siteA", ["obsX", "obsY"])
    b = base / "siteB"
    shutil.copytree(a, b)
    run_observers(a, ["obsX"], seed=3, start=T0 + 60)
    run_observers(b, ["obsY"], seed=3, start=T0 + 60)
    for s in (a, b):
        assert main(["study", "export", str(s)]) == 0
    return {"base": base, "a": a, "b": b, "dataset": study_dataset}


@pytest.mark.slow  # a second report, over a merge of two sites
def test_merge_takes_each_observer_from_its_site_and_the_report_reads_it(sites, capsys) -> None:
    out = sites["base"] / "merged"
    assert main(["study", "merge", str(out), str(sites["a"] / "export"), str(sites["b"] / "export")]) == 0
    rows = read_csv(out / "results.csv")
    site_a, site_b = read_csv(sites["a"] / "export" / "results.csv"), read_csv(sites["b"] / "export" / "results.csv")
    assert rows == [r for r in site_a if r["observer"] == "obsX"] + [r for r in site_b if r["observer"] == "obsY"]
    finished = [r for r in rows if r["finished_at"]]
    assert {r["observer"] for r in finished} == {"obsX", "obsY"} and len(finished) == 2 * 2 * 3 * 2
    for r in finished:
        name = f"mask_{r['structure']}_step{r['step']}_{r['observer']}.nii.gz"
        blob = (out / r["patient"] / "MR_StorT2" / "observerData" / name).read_bytes()
        assert hashlib.sha256(blob).hexdigest() == r["output_sha256"]
    record = json.loads((out / "study_definition.json").read_text())
    sha = hashlib.sha256((sites["a"] / "study.json").read_bytes()).hexdigest()
    assert record["definition_sha256"] == sha
    assert [s["observers"] for s in record["sites"]] == [["obsX"], ["obsY"]]
    assert record["definition"]["admin"] is None

    rep = sites["base"] / "merged-report"
    cache = ["--cache", str(sites["base"] / "cache")]
    assert main(["study", "report", str(out), "--out", str(rep), "--bootstrap", "0", *cache, *RUN]) == 0
    flow = {(r["observer"], r["step"]): r for r in read_csv(rep / "flow.csv")}
    assert all(int(flow[(o, k)]["finished"]) == 3 for o in ("obsX", "obsY") for k in ("1", "2"))
    edits = read_csv(rep / "uncertainty_edits.csv")
    # the edited voxels of one case, recounted from the merged masks and the dataset's DL mask
    r = next(x for x in finished if x["observer"] == "obsY" and x["structure"] == "CTVT_427")
    p = out / r["patient"] / "MR_StorT2" / "observerData" / f"mask_CTVT_427_step{r['step']}_obsY.nii.gz"
    dl = sites["dataset"] / r["patient"] / "MR_StorT2" / "nnUNetOutput" / "mask_CTVT_427_nnUNet.nii.gz"
    changed = (np.asanyarray(nib.load(str(p)).dataobj) > 0) ^ (np.asanyarray(nib.load(str(dl)).dataobj) > 0)
    mine = [
        x
        for x in edits
        if (x["patient"], x["structure"], x["observer"], x["step"]) == (r["patient"], "CTVT_427", "obsY", r["step"])
    ]
    assert sum(int(x["edited_voxels"]) for x in mine) == np.count_nonzero(changed)

    # merging again into the same folder gives the same files
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lundprobe-merge.json"}
    assert main(["study", "merge", str(out), str(sites["a"] / "export"), str(sites["b"] / "export")]) == 0
    after = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lundprobe-merge.json"}
    assert before == after


def test_merge_refuses_overlapping_observers_another_definition_and_a_foreign_folder(sites, capsys) -> None:
    base = sites["base"]
    twin = base / "twin-export"
    shutil.copytree(sites["a"] / "export", twin)
    assert main(["study", "merge", str(base / "m1"), str(sites["a"] / "export"), str(twin)]) == 2
    err = capsys.readouterr().err
    assert "observer obsX has results in both" in err and not (base / "m1" / "results.csv").exists()

    other = new_study(sites["dataset"], base / "other", ["obsZ", "obsW"], seed=12)
    run_observers(other, ["obsZ"], seed=3, start=T0 + 60)
    assert main(["study", "export", str(other)]) == 0
    assert main(["study", "merge", str(base / "m2"), str(sites["a"] / "export"), str(other / "export")]) == 2
    assert "another study definition" in capsys.readouterr().err

    edited = base / "edited-export"
    shutil.copytree(sites["b"] / "export", edited)
    record = json.loads((edited / "study_definition.json").read_text())
    record["definition"]["washout_days"] = 1
    (edited / "study_definition.json").write_text(json.dumps(record))
    assert main(["study", "merge", str(base / "m3"), str(sites["a"] / "export"), str(edited)]) == 2
    assert "holds another definition" in capsys.readouterr().err

    foreign = base / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main(["study", "merge", str(foreign), str(sites["a"] / "export"), str(sites["b"] / "export")]) == 2
    assert "not empty" in capsys.readouterr().err and sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]

    inside = sites["a"] / "export" / "merged"
    assert main(["study", "merge", str(inside), str(sites["a"] / "export"), str(sites["b"] / "export")]) == 2
    assert not inside.exists()


@pytest.mark.slow  # four batch runs over a study
def test_study_over_the_dataset_names_a_colliding_observer_apart(study_dataset, tmp_path, capsys) -> None:
    study = new_study(study_dataset, tmp_path / "study", ["obsB", "obsQ"], published_ids=True)
    run_observers(study, ["obsB"], seed=3, start=T0 + 60)
    cache = ["--cache", str(tmp_path / "cache")]

    assert main(["metrics", "--study", str(study), "--observers", "obsB", "--json", *cache, *RUN]) == 2
    assert "say study:obsB or published:obsB" in capsys.readouterr().err

    assert main(["uncertainty-edits", "--study", str(study), "--json", *cache, *RUN]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["source"] for r in rows} == {"step1_study:obsB", "step2_study:obsB"}
    assert {r["observer"] for r in rows} == {"study:obsB"} and {type(r["step"]) for r in rows} == {int}

    args = ["--observers", "study:obsB", "published:obsB", "--json", *cache, *RUN]
    assert main(["metrics", "--study", str(study), *args]) == 0
    captured = capsys.readouterr()
    metrics = json.loads(captured.out)
    dl_vs = [r for r in metrics if r["comparison"] == "dl_vs_observer"]
    assert {r["observer"] for r in dl_vs} == {"study:obsB", "obsB"}
    assert all(set(r) >= {"patient", "structure", "observer", "step", "source", "reference", "test"} for r in metrics)
    assert "not present" not in captured.err

    assert main(["dvh", "--study", str(study), "--observers", "study:obsB", "--json", *cache, *RUN]) == 0
    dvh = [r for r in json.loads(capsys.readouterr().out) if r["observer"] is not None]
    assert {(r["observer"], r["step"], r["source"]) for r in dvh} == {
        ("study:obsB", 1, "step1_study:obsB"),
        ("study:obsB", 2, "step2_study:obsB"),
    }

    # the study's edit is the file the study recorded: Dice recomputed from it and the DL mask
    results = {(r["patient"], r["structure"], r["step"]): r for r in read_csv_rows(study) if r["observer"] == "obsB"}
    row = next(r for r in dl_vs if r["observer"] == "study:obsB" and r["structure"] == "Rectum" and r["step"] == 2)
    rec = results[(row["patient"], "Rectum", "2")]
    ed = np.asanyarray(nib.load(str(study / rec["output_file"])).dataobj) > 0
    dl_path = study_dataset / row["patient"] / "MR_StorT2" / "nnUNetOutput" / "mask_Rectum_nnUNet.nii.gz"
    dl = np.asanyarray(nib.load(str(dl_path)).dataobj) > 0
    assert row["dice"] == pytest.approx(2 * np.count_nonzero(ed & dl) / (ed.sum() + dl.sum()))

    # a study edit changed after the fact is left out, named, and the rest still runs
    target = study / rec["output_file"]
    target.write_bytes(target.read_bytes()[:-8] + b"\0" * 8)
    assert main(["metrics", "--study", str(study), "--observers", "study:obsB", "--json", *cache, *RUN]) == 0
    rows = json.loads(capsys.readouterr().out)
    kept = {(r["patient"], r["structure"], r["step"]) for r in rows if r["observer"] == "study:obsB"}
    assert (row["patient"], "Rectum", 2) not in kept and len(kept) == 3 * 2 * 2 - 1


def read_csv_rows(study: Path) -> list[dict[str, str]]:
    from lundprobe_gui.study.reading import read_study_outputs

    return read_study_outputs(study).raw_results


@pytest.mark.slow  # runs a whole study and its report
def test_flow_counts_a_reopened_case_and_an_overridden_washout(study_dataset, tmp_path) -> None:
    from lundprobe_gui.study import ObserverSession, load_study
    from lundprobe_gui.study.admin import authorise_admin

    day = 86400.0
    d = tmp_path / "study"
    init_study(d, InitOptions(dataset_root=study_dataset, observers=["obsX", "obsY"], seed=2, washout_days=28), now=T0)
    end = run_observers(d, ["obsX"], seed=3, start=T0 + 60).end_time  # step 1; step 2 waits for the washout
    auth = authorise_admin(load_study(d), d, cli_flag=True, by="dr-admin")
    with ObserverSession(d, "obsX", now=end + day) as s:
        assert s.override_washout(auth, reason="observer leaves", now=end + day) == 2
    end = run_observers(d, ["obsX"], seed=3, start=end + day + 60).end_time
    with ObserverSession(d, "obsX", now=end + 60) as s:
        s.unlock_case("Case 02", auth, step=1, reason="missed a slice", now=end + 60, force=True)
    with ObserverSession(d, "obsX", now=end + 120) as s:
        assert s.current_case(now=end + 120).step == 1
        s.finish_case(now=end + 180)
        assert s.current_case(now=end + 180) is None

    out = tmp_path / "rep"
    args = ["--bootstrap", "0", "--cache", str(tmp_path / "cache"), *RUN]
    assert main(["study", "report", str(d), "--out", str(out), *args]) == 0
    flow = {(r["observer"], r["step"]): r for r in read_csv(out / "flow.csv")}
    step1, step2 = flow[("obsX", "1")], flow[("obsX", "2")]
    assert (step1["assigned"], step1["finished"], step1["reopened"], step1["reopened_after_later_step"]) == (
        "3",
        "3",
        "1",
        "1",
    )
    assert step1["washout_overridden"] == "False" and step2["washout_overridden"] == "True"
    assert (flow[("obsY", "1")]["started"], flow[("obsY", "1")]["finished"]) == ("0", "0")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "overrid" in html and "reopened" in html


@pytest.mark.slow  # a third report run
def test_an_interim_report_of_one_finished_case(study_dataset, tmp_path, capsys) -> None:
    from lundprobe_gui.study import ObserverSession

    from .helpers import work_case

    d = new_study(study_dataset, tmp_path / "study", ["obsX", "obsY"])
    s = ObserverSession(d, "obsX", now=T0)
    s.close(now=work_case(s, T0) + 10)
    out = tmp_path / "rep"
    args = ["--scheduler", "sync", "--bootstrap", "200", "--cache", str(tmp_path / "cache")]
    assert main(["study", "report", str(d), "--out", str(out), *args]) == 0
    err = capsys.readouterr().err
    assert "nothing to compare" not in err and "no observer edits" not in err
    flow = {(r["observer"], r["step"]): r for r in read_csv(out / "flow.csv")}
    assert (flow[("obsX", "1")]["finished"], flow[("obsX", "1")]["analysed"]) == ("1", "1")
    assert flow[("obsY", "1")]["analysed"] == "0"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["report"]["patients"] == 3
    # one patient: no interval, and no test of steps that have no pairs
    low = [r for r in read_csv(out / "low_uncertainty.csv") if r["observer"] == "obsX"]
    assert low and all(r["low_ci_low"] == "" and r["patients"] == "1" for r in low)


def test_report_without_matplotlib_is_a_one_line_error(tmp_path, monkeypatch, capsys) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as in the desktop bundle, which leaves it out
    assert main(["study", "report", str(tmp_path / "study"), "--out", str(tmp_path / "rep"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "needs matplotlib" in err and "Traceback" not in err and not (tmp_path / "rep").exists()


@pytest.mark.parametrize(
    "column, value, message",
    [("patient", "../../elsewhere", "patient"), ("step", "two", "not a whole number"), ("observer", "a/b", "observer")],
)
def test_a_hostile_results_csv_of_an_export_is_named_with_its_line(sites, tmp_path, capsys, column, value, message):
    export = tmp_path / "export"
    shutil.copytree(sites["a"] / "export", export)
    rows = read_csv(export / "results.csv")
    rows[3][column] = value
    with open(export / "results.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "rep"
    assert main(["study", "report", str(export), "--out", str(out), "--scheduler", "sync", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{export / 'results.csv'}, line 5" in err and message in err and not out.exists()
    assert main(["study", "merge", str(tmp_path / "m"), str(export), str(sites["b"] / "export")]) == 2
    assert "line 5" in capsys.readouterr().err


def test_a_study_export_given_as_path_is_read_as_study(sites, tmp_path, capsys) -> None:
    cache = ["--cache", str(tmp_path / "cache"), "--json", "--scheduler", "sync"]
    export = str(sites["a"] / "export")
    assert main(["uncertainty-edits", "--study", export, *cache, "--quiet"]) == 0
    with_flag = json.loads(capsys.readouterr().out)
    assert main(["uncertainty-edits", export, *cache]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == with_flag and {r["observer"] for r in with_flag} == {"obsX"}
    assert "laid over its dataset" in captured.err and "reference image is missing" not in captured.err
