"""7. Inputs are never written, and a version name belongs to one series: attacks as a hostile user
or a careless administrator would try them.

Every attack runs on a private copy of a small LUND-PROBE dataset and checks the dataset's bytes
(every file, by sha256) after the attack. Each test names its class in ``figures["attack_class"]``
(``inputs``, ``names``): ``report.py`` counts the attacks per class.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lundprobe_gui as lp
from lundprobe_gui.core.names import InvalidName
from lundprobe_gui.edit import recovery
from lundprobe_gui.io.guard import MARKER, WriteRefused
from lundprobe_gui.io.verify import verify_folder
from lundprobe_gui.io.versions import VersionError
from lundprobe_gui.metrics.table import write_csv
from lundprobe_gui.review import ReviewError, init_review, write_results
from lundprobe_gui.review.protocol import load_protocol
from lundprobe_gui.review.state import load_state as load_review_state
from lundprobe_gui.study import InitOptions, ObserverSession, StudyError, export_study, init_study
from lundprobe_gui.study.audit import append_audit

from .helpers import snapshot, subprocess_env, time_limit, work_first_case

T0 = 1_740_988_800.0
PUBLISHED = "MR_StorT2/observerData/mask_CTVT_427_step1_obsB.nii.gz"
HERE = Path(__file__).resolve().parent


def _cli(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lundprobe_gui", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=subprocess_env(),
        cwd=cwd,
    )


def _refused_cleanly(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


_EDITS = itertools.count()


def _edited(p):
    """An edited CTV, different at every call: a save of an unchanged mask writes no new version."""
    m = p.mask_obj("CTVT_427", "nnUNet").copy()
    m.write(((0, 1), (0, 2), (0, 2)), np.ones((1, 2, 2), bool))
    y, x = divmod(next(_EDITS) % (m.shape[1] * m.shape[2]), m.shape[2])  # a voxel of its own, inside the grid
    box = ((1, 2), (y, y + 1), (x, x + 1))
    m.write(box, ~m.read(box))  # flipped: inside or outside, it differs from every other call's mask
    return m


# -- inputs: save_mask ----------------------------------------------------------------------------------------
OUT_TARGETS = {
    "dataset root": lambda ds, tmp: ds,
    "patient folder": lambda ds, tmp: ds / "LUNDPROBE_0433",
    "observerData folder": lambda ds, tmp: ds / "LUNDPROBE_0433" / "MR_StorT2" / "observerData",
    "new folder in the dataset root": lambda ds, tmp: ds / "edits",
    "new folder in a patient folder": lambda ds, tmp: ds / "LUNDPROBE_0433" / "edits",
    "symlink to the dataset root": lambda ds, tmp: _link(tmp / "link", ds),
    "symlink to a patient folder": lambda ds, tmp: _link(tmp / "link", ds / "LUNDPROBE_0433"),
    "folder inside a symlink to the dataset": lambda ds, tmp: _link(tmp / "link", ds) / "sub",
    "'..' back into the dataset": lambda ds, tmp: tmp / "out" / ".." / "ds",
    "dataset root with a planted output marker": lambda ds, tmp: _plant_marker(ds),
}


def _link(link: Path, target: Path) -> Path:
    link.symlink_to(target, target_is_directory=True)
    return link


def _plant_marker(ds: Path) -> Path:
    (ds / MARKER).write_text(json.dumps({"app": "lundprobe_gui", "kind": "edits"}))
    return ds


@pytest.mark.parametrize("where", list(OUT_TARGETS))
@pytest.mark.slow
def test_save_mask_refuses_an_output_folder_in_the_dataset(ds, tmp_path, where, attack):
    attack("inputs")
    p = lp.open_patient(ds / "LUNDPROBE_0433")
    m = _edited(p)
    out = OUT_TARGETS[where](ds, tmp_path)
    before = snapshot(ds)
    with pytest.raises(WriteRefused, match="never writes into a dataset"):
        p.save_mask("CTVT_427", m, source="step1_obsB", out_dir=out)  # the published edit's own name
    assert snapshot(ds) == before
    assert not (tmp_path / "out").exists()


def _hard_link_in_output(ds: Path, out: Path, name: str) -> Path:
    """The output's observerData folder, holding ``name`` as a hard link of the published input edit."""
    folder = out / "LUNDPROBE_0433" / "MR_StorT2" / "observerData"
    folder.mkdir(parents=True)
    os.link(ds / "LUNDPROBE_0433" / PUBLISHED, folder / name)
    return folder


@pytest.mark.slow
def test_a_hard_link_of_an_input_as_the_plain_copy_is_refused(ds, tmp_path, attack):
    attack("inputs")
    p = lp.open_patient(ds / "LUNDPROBE_0433")
    folder = _hard_link_in_output(ds, tmp_path / "out", "mask_CTVT_427_step1_obsB.nii.gz")
    before = snapshot(ds)
    with pytest.raises(WriteRefused, match="same inode"):
        p.save_mask("CTVT_427", _edited(p), source="step1_obsB", out_dir=tmp_path / "out")
    assert snapshot(ds) == before
    assert not list(folder.glob("*_v*")), "the refused save left a version"


@pytest.mark.slow
def test_a_hard_link_of_an_input_as_a_version_name_is_never_written(ds, tmp_path, attack):
    attack("inputs")
    p = lp.open_patient(ds / "LUNDPROBE_0433")
    _hard_link_in_output(ds, tmp_path / "out", "mask_CTVT_427_step1_obsF_v001.nii.gz")
    before = snapshot(ds)
    path = p.save_mask("CTVT_427", _edited(p), source="step1_obsF", out_dir=tmp_path / "out")
    assert path.name == "mask_CTVT_427_step1_obsF_v002.nii.gz"  # a taken name is skipped, never replaced
    assert snapshot(ds) == before


@pytest.mark.slow
def test_a_csv_over_a_hard_link_of_an_input_or_in_a_patient_folder_is_refused(ds, tmp_path, attack):
    attack("inputs")
    p = lp.open_patient(ds / "LUNDPROBE_0433")
    os.link(ds / "LUNDPROBE_0433" / PUBLISHED, tmp_path / "metrics.csv")
    before = snapshot(ds)
    with pytest.raises(WriteRefused, match="same inode"):
        write_csv(tmp_path / "metrics.csv", [{"a": 1}], ["a"])
    del p  # no patient open: the folder is still recognised as a patient folder
    with pytest.raises(WriteRefused, match="patient folder"):
        write_csv(ds / "LUNDPROBE_0434" / "MR_StorT2" / "metrics.csv", [{"a": 1}], ["a"])
    assert snapshot(ds) == before


def test_the_recovery_area_in_the_dataset_is_refused(ds, attack):
    attack("inputs")
    p = lp.open_patient(ds / "LUNDPROBE_0433")
    before = snapshot(ds)
    for area in (ds, ds / "LUNDPROBE_0433" / "MR_StorT2"):
        with pytest.raises(WriteRefused):
            recovery.autosave(area, p.path, p.id, [("CTVT_427", "step1_obsF", "nnUNet", _edited(p), None)])
    assert snapshot(ds) == before


@pytest.mark.slow
def test_an_audit_log_hard_linked_to_an_input_is_not_appended_to(ds, tmp_path, attack):
    attack("inputs")
    study = tmp_path / "study"
    init_study(study, InitOptions(dataset_root=ds, observers=["obs1"], seed=1), now=T0)
    (study / "audit.log").unlink()
    os.link(ds / "LUNDPROBE_0433" / PUBLISHED, study / "audit.log")
    before = snapshot(ds)
    with pytest.raises(PermissionError):
        append_audit(study, "case_unlocked", now=T0)
    assert snapshot(ds) == before


# -- inputs: the command line -----------------------------------------------------------------------------------
def _finished_study(ds: Path, tmp_path: Path, observer: str = "obsB") -> Path:
    """A study whose observer (a published ID, allowed explicitly) finished one case with saved edits."""
    study = tmp_path / "study"
    init_study(study, InitOptions(dataset_root=ds, observers=[observer], seed=1, allow_published_ids=True), now=T0)
    work_first_case(study, observer, T0)
    return study


EXPORT_TARGETS = {
    "dataset root": lambda ds, tmp: ds,
    "patient folder": lambda ds, tmp: ds / "LUNDPROBE_0433",
    "symlink to the dataset root": lambda ds, tmp: _link(tmp / "link", ds),
    "new folder in the dataset root": lambda ds, tmp: ds / "exports",
}


@pytest.mark.parametrize("where", list(EXPORT_TARGETS))
@pytest.mark.slow
def test_study_export_into_the_dataset_is_refused(ds, tmp_path, where, attack):
    attack("inputs")
    study = _finished_study(ds, tmp_path)
    before = snapshot(ds)
    r = _cli("study", "export", study, "--out", EXPORT_TARGETS[where](ds, tmp_path))
    _refused_cleanly(r, "never writes into a dataset")
    assert snapshot(ds) == before


@pytest.mark.slow
def test_study_export_never_replaces_a_hard_link_of_an_input(ds, tmp_path, attack):
    attack("inputs")
    study = _finished_study(ds, tmp_path)
    s = ObserverSession(study, "obsB", now=T0 + 5)
    case = s.state.steps[1].cases[0].patient
    s.close(now=T0 + 5)
    dest = tmp_path / "exp" / case / "MR_StorT2" / "observerData"
    dest.mkdir(parents=True)
    os.link(ds / case / PUBLISHED, dest / "mask_CTVT_427_step1_obsB.nii.gz")
    before = snapshot(ds)
    rep = export_study(study, tmp_path / "exp")
    assert snapshot(ds) == before
    assert any("not written by this export" in p for p in rep.problems)
    assert sorted(p.name for p in rep.copied) == ["mask_Rectum_step1_obsB.nii.gz"]  # the dataset's own names


@pytest.mark.slow
def test_study_export_deletes_only_its_own_recorded_versions(ds, tmp_path, attack):
    attack("inputs")
    study = _finished_study(ds, tmp_path)
    exp = tmp_path / "exp"
    rep = export_study(study, exp)
    ctvt, rectum = sorted(rep.copied)
    foreign = ctvt.parent / "mask_Rectum_step2_obsB.nii.gz"  # a name the export could delete, not its own
    foreign.write_bytes(b"someone else's file")
    rectum.write_bytes(rectum.read_bytes() + b"changed after the export")
    r = _cli("study", "unlock", study, "--observer", "obsB", "--case", "1", "--admin", "--reason", "test")
    assert r.returncode == 0, r.stderr
    rep = export_study(study, exp)
    assert rep.removed == [ctvt]  # its own, and a recorded version
    assert rectum.exists() and foreign.exists()  # changed since, and never written by it
    assert any(str(rectum) in p for p in rep.problems)


@pytest.mark.slow
def test_study_init_refuses_published_and_taken_observer_ids(ds, tmp_path, attack):
    attack("inputs")
    opts = InitOptions(dataset_root=ds, seed=1)
    st = init_study(tmp_path / "default", opts, now=T0)
    assert not {o.casefold() for o in st.observers} & {"obsb", "obsc", "obsd", "obse"}
    for observers in (["obsB"], ["OBSC"], ["obs1", "obsE"]):
        with pytest.raises(StudyError, match="allow-published-ids"):
            init_study(tmp_path / "s", InitOptions(dataset_root=ds, observers=observers, seed=1), now=T0)
        assert not (tmp_path / "s").exists()
    # an ID whose edits the dataset already holds, although it is not a published one
    shutil.copy(
        ds / "LUNDPROBE_0434" / PUBLISHED, ds / "LUNDPROBE_0434" / "MR_StorT2/observerData/mask_X_step2_obsQ.nii.gz"
    )
    with pytest.raises(StudyError, match="already holds its edits"):
        init_study(tmp_path / "s", InitOptions(dataset_root=ds, observers=["obsq"], seed=1), now=T0)
    r = _cli("study", "init", tmp_path / "s", "--dataset", ds, "--observers", "obsB")
    _refused_cleanly(r, "--allow-published-ids")
    r = _cli("study", "init", tmp_path / "s", "--dataset", ds, "--observers", "obsB", "--allow-published-ids")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("where", ["dataset root", "patient folder"])
@pytest.mark.slow
def test_a_study_or_review_folder_in_the_dataset_is_refused(ds, where, attack):
    attack("inputs")
    folder = ds / "work" if where == "dataset root" else ds / "LUNDPROBE_0433" / "work"
    before = snapshot(ds)
    with pytest.raises(StudyError, match="never writes into a dataset"):
        init_study(folder, InitOptions(dataset_root=ds, observers=["obs1"], seed=1), now=T0)
    with pytest.raises(ReviewError, match="never writes into a dataset"):
        init_review(folder, ds, "rev1")
    assert snapshot(ds) == before and not folder.exists()


@pytest.mark.slow
def test_review_export_into_a_case_folder_is_refused(ds, tmp_path, attack):
    attack("inputs")
    init_review(tmp_path / "review", ds, "rev1")
    proto = load_protocol(tmp_path / "review")
    before = snapshot(ds)
    with pytest.raises(WriteRefused):
        write_results(
            tmp_path / "review",
            proto,
            load_review_state(tmp_path / "review", proto),
            ds / "LUNDPROBE_0433" / "r.csv",
        )
    r = _cli("review", "export", tmp_path / "review", "--out", ds / "results.csv")
    _refused_cleanly(r, "never writes into a dataset")
    assert snapshot(ds) == before


@pytest.mark.slow
def test_demo_over_a_dataset_and_csv_and_png_into_it_are_refused(ds, tmp_path, attack):
    attack("inputs")
    before = snapshot(ds)
    _refused_cleanly(_cli("demo", ds), "dataset root")
    _refused_cleanly(_cli("demo", ds / "LUNDPROBE_0433" / "more"), "patient folder")
    _refused_cleanly(
        _cli("metrics", ds / "LUNDPROBE_0433", "--csv", ds / "LUNDPROBE_0433" / "m.csv"), "never writes into a dataset"
    )
    _refused_cleanly(_cli("screenshot", ds / "LUNDPROBE_0433", ds / "shot.png"), "never writes into a dataset")
    assert snapshot(ds) == before


@pytest.mark.slow
def test_the_editor_save_into_the_dataset_root_fails_and_keeps_the_edit(ds, qtbot, attack):
    attack("inputs")
    from lundprobe_gui.render.scene import SceneRenderer
    from lundprobe_gui.render.state import ViewerState
    from lundprobe_gui.ui.edit_controller import EditController

    p = lp.open_patient(ds / "LUNDPROBE_0433")
    ctrl = EditController()
    ctrl.bind(p, SceneRenderer(p, ViewerState()))
    try:
        key = ctrl.start_editing("CTVT_427", "nnUNet", "step1_obsB")  # the published edit's own name
        box = p.mask_obj("CTVT_427", "nnUNet").bbox()
        z, y, x = box[0][0], box[1][0], box[2][0]
        ctrl.set_tool("brush")
        for kind, pos in (("press", (z, y, x)), ("move", (z, y + 2, x + 2)), ("release", (z, y + 2, x + 2))):
            ctrl.handle(kind, 0, pos)
        snap = ctrl.session.working(key).copy()
        before = snapshot(ds)
        failures: list[str] = []
        ctrl.save_failed.connect(lambda msg, keys: failures.append(msg))
        ctrl.out_dir = ds  # as if chosen before the dialog refused it (a stored setting, a script)
        ctrl.save(background=False)
        assert failures and "never writes into a dataset" in failures[-1], failures
        assert ctrl.dirty() == [key] and ctrl.session.working(key) == snap
        assert snapshot(ds) == before
    finally:  # no QObject with running timers left for the garbage collector of a later test
        ctrl._autosave_timer.stop()  # noqa: SLF001 - the controller's autosave timers have no public handle
        ctrl._debounce.stop()  # noqa: SLF001 - as above
        ctrl.deleteLater()
        qtbot.wait(10)


# -- inputs: output folders of older versions keep working ----------------------------------------------------
@pytest.mark.slow
def test_output_folders_from_before_the_marker_keep_working(ds, tmp_path, attack):
    attack("inputs")
    p = lp.open_patient(ds / "LUNDPROBE_0433")
    # a study made inside the dataset root by an older version (no marker), and its edits folder
    study = tmp_path / "study"
    init_study(study, InitOptions(dataset_root=ds, observers=["obs1"], seed=1), now=T0)
    work_first_case(study, "obs1", T0, finish=False)
    (study / MARKER).unlink()
    old = shutil.move(study, ds / "old-study")
    edits = tmp_path / "edits"
    p.save_mask("CTVT_427", _edited(p), source="step1_obsF", out_dir=edits)
    (edits / MARKER).unlink()
    legacy_edits = shutil.move(edits, ds / "lundprobe_edits")
    before = {k: v for k, v in snapshot(ds).items() if not k.startswith(("old-study", "lundprobe_edits"))}
    with ObserverSession(old, "obs1", now=T0 + 10) as s:  # resumes and saves again
        m = s.begin_editing("CTVT_427", now=T0 + 11)
        m.write(((2, 3), (0, 1), (0, 1)), np.ones((1, 1, 1), bool))  # a real change: an unchanged save writes nothing
        saved = s.save_edit(m, structure="CTVT_427", now=T0 + 12)
    assert saved.version_file.name.endswith("_v002.nii.gz") and (Path(old) / MARKER).is_file()
    again = p.save_mask("CTVT_427", _edited(p), source="step1_obsF", out_dir=legacy_edits)
    assert again.name.endswith("_v002.nii.gz") and (Path(legacy_edits) / MARKER).is_file()
    assert {k: v for k, v in snapshot(ds).items() if not k.startswith(("old-study", "lundprobe_edits"))} == before


# -- names: a version name belongs to one series ---------------------------------------------------------------
@pytest.mark.parametrize(
    "name,source",
    [
        ("CTVT_427", "edit_v001"),
        ("CTVT_427", "v001"),
        ("CTVT_427", "step1_obsF_V002"),
        ("CTVT_v1", "step1_obsF"),
        ("Rectum_v0001", "edit"),
    ],
)
@pytest.mark.slow
def test_names_and_sources_that_end_like_a_version_are_refused(ds, tmp_path, name, source, attack):
    attack("names")
    p = lp.open_patient(ds / "LUNDPROBE_0433")
    with pytest.raises(InvalidName, match="version"):
        p.save_mask(name, _edited(p), source=source, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_plain_copy_never_replaces_a_version(ds, tmp_path, attack):
    attack("names")
    p = lp.open_patient(ds / "LUNDPROBE_0433")
    out = tmp_path / "out"
    for source in ("edit", "edit_x", "x_edit", "edit-v001"):
        for _ in range(2):
            p.save_mask("CTVT_427", _edited(p), source=source, out_dir=out)
    rep = verify_folder(out)
    assert rep.ok and rep.versions == 8 and not rep.findings, rep.findings


@pytest.mark.parametrize("legacy", [False, True], ids=["owner file", "folder of an older version"])
@pytest.mark.slow
def test_A_B_plus_C_and_A_plus_B_C_cannot_share_a_stem(ds, tmp_path, legacy, attack):
    attack("names")
    p = lp.open_patient(ds / "LUNDPROBE_0433")
    out = tmp_path / "out"
    first = p.save_mask("A_B", _edited(p), source="C", out_dir=out)
    if legacy:
        for f in first.parent.glob(".*.series.json"):
            f.unlink()
    before = snapshot(out)
    with pytest.raises(VersionError, match="already belongs to structure 'A_B' of source 'C'"):
        p.save_mask("A", _edited(p), source="B_C", out_dir=out)
    after = snapshot(out)
    assert {k: v for k, v in after.items() if k in before} == {k: v for k, v in before.items() if k in after}
    assert not [k for k in after if "_v002" in k]
    assert verify_folder(out).ok


@pytest.mark.slow
def test_two_processes_racing_for_one_stem_get_one_owner(ds, tmp_path, attack):
    attack("names")
    out, start = tmp_path / "out", tmp_path / "start"
    code = (
        "import sys, time, pathlib, lundprobe_gui as lp\n"
        "from lundprobe_gui.io.versions import VersionError\n"
        "p = lp.open_patient(sys.argv[1]); m = p.mask_obj('CTVT_427', 'nnUNet')\n"
        "while not pathlib.Path(sys.argv[5]).exists(): time.sleep(0.001)\n"
        "try:\n"
        "    for i in range(5):\n"
        "        m = m.copy(); m.write(((0, 1), (0, 1), (i, i + 1)), __import__('numpy').ones((1, 1, 1), bool))\n"
        "        p.save_mask(sys.argv[3], m, source=sys.argv[4], out_dir=sys.argv[2])\n"
        "    print('OWNER')\n"
        "except VersionError: print('REFUSED')\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, ds / "LUNDPROBE_0433", out, name, source, start],
            stdout=subprocess.PIPE,
            text=True,
            env=subprocess_env(),
        )
        for name, source in (("A_B", "C"), ("A", "B_C"))
    ]
    start.touch()
    results = sorted(proc.communicate(timeout=120)[0].strip() for proc in procs)
    assert results == ["OWNER", "REFUSED"]
    folder = out / "LUNDPROBE_0433" / "MR_StorT2" / "observerData"
    owners = {
        (d["structure"], d["source"]) for d in (json.loads(f.read_text()) for f in folder.glob("mask_A_B_C_v*.json"))
    }
    assert len(owners) == 1 and len(list(folder.glob("mask_A_B_C_v*.nii.gz"))) == 5
    assert verify_folder(out).ok


@pytest.mark.slow
def test_fifos_in_place_of_the_apps_own_files_never_hang_a_writer(ds, tmp_path, attack):
    attack("inputs")
    p = lp.open_patient(ds / "LUNDPROBE_0433")
    out = tmp_path / "out"
    folder = out / "LUNDPROBE_0433" / "MR_StorT2" / "observerData"
    folder.mkdir(parents=True)
    os.mkfifo(folder / ".mask_CTVT_427_step1_obsF.series.json")  # the owner file
    os.mkfifo(folder / "mask_CTVT_427_step1_obsF_v001.nii.gz")  # a version name
    study = _finished_study(ds, tmp_path)
    exp = tmp_path / "exp"
    exp.mkdir()
    for name in ("results.csv", ".lundprobe-export.json"):
        os.mkfifo(exp / name)
    with time_limit(60, "writers facing FIFOs"):
        path = p.save_mask("CTVT_427", _edited(p), source="step1_obsF", out_dir=out)
        rep = export_study(study, exp)
    assert path.name.endswith("_v002.nii.gz") and verify_folder(out).counts() == {"no-provenance": 1}
    assert any("results.csv: not a regular file" in x for x in rep.problems) and len(rep.copied) == 2
