"""4. Storage faults: a full disk, a read-only folder, a folder removed mid-session.

Each fault is simulated (it runs everywhere, also as root, who ignores permission bits) and, where
the machine allows mounting a tmpfs, also produced for real (a 1 MB tmpfs filled up; a tmpfs
remounted read-only). Every time:

* the error names the folder and the reason;
* the edits are kept (the in-memory Mask is unchanged; in the editor the structure stays dirty);
* no partial file is left under a final name, and what was there before is unchanged;
* saving again to another folder (or once the fault is gone) works.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pytest

import lundprobe_gui as lp
from lundprobe_gui.io.nifti import load_array
from lundprobe_gui.study import InitOptions, ObserverSession, init_study

from .helpers import HalfWriteFile, check_nifti_complete, part_files, snapshot, tiny_patient

T0 = 1_740_988_800.0
STRERROR = {
    errno.ENOSPC: "No space left on device",
    errno.EROFS: "Read-only file system",
    errno.EACCES: "Permission denied",
    errno.ENOENT: "No such file or directory",
}


# -- simulated faults ------------------------------------------------------------------------------------
def _no_space() -> None:
    raise OSError(errno.ENOSPC, STRERROR[errno.ENOSPC])


@contextlib.contextmanager
def disk_full(at_file: int = 1):
    """From the ``at_file``-th file written on, every write fails half-way with ENOSPC."""
    real = os.fdopen
    count = [0]

    def fdopen(fd, *a, **k):
        fh = real(fd, *a, **k)
        count[0] += 1
        return (
            HalfWriteFile(fh, _no_space) if count[0] >= at_file and "w" in (a[0] if a else k.get("mode", "r")) else fh
        )

    os.fdopen = fdopen
    try:
        yield count
    finally:
        os.fdopen = real


@contextlib.contextmanager
def read_only(code: int):
    """Creating a file or a folder fails with ``code`` (EROFS: read-only mount; EACCES: no permission)."""
    real_mkstemp, real_mkdir = tempfile.mkstemp, os.mkdir

    def mkstemp(*a, dir=None, **k):
        raise OSError(code, STRERROR[code], os.path.join(dir or "", "tmpXXXX"))

    def mkdir(path, *a, **k):
        if os.path.isdir(path):
            raise FileExistsError(errno.EEXIST, "File exists", str(path))
        raise OSError(code, STRERROR[code], str(path))

    tempfile.mkstemp, os.mkdir = mkstemp, mkdir
    try:
        yield
    finally:
        tempfile.mkstemp, os.mkdir = real_mkstemp, real_mkdir


@contextlib.contextmanager
def folder_removed_during_save(root: Path):
    """The output root is deleted (by another program) just before the first file is created."""
    real = tempfile.mkstemp

    def mkstemp(*a, **k):
        shutil.rmtree(root, ignore_errors=True)
        tempfile.mkstemp = real
        return real(*a, **k)

    tempfile.mkstemp = mkstemp
    try:
        yield
    finally:
        tempfile.mkstemp = real


# -- real faults on a tmpfs ----------------------------------------------------------------------------------
@pytest.fixture()
def tmpfs(tmp_path):
    """Mount a 1 MB tmpfs (skipped where mounting is not allowed); yields its path and a remount function."""
    mnt = tmp_path / f"mnt-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN); the simulated faults still run")

    def remount(opts: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{opts}", str(mnt)], check=True, capture_output=True)

    try:
        yield mnt, remount
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


# -- the checks ---------------------------------------------------------------------------------------------
@pytest.fixture()
def edited(demo_patient_path):
    """The demo patient with an edited copy of its nnUNet CTVT_427 mask."""
    p = lp.open_patient(demo_patient_path)
    m = p.mask_obj("CTVT_427", "nnUNet").copy()
    z = (m.bbox()[0][0] + m.bbox()[0][1]) // 2
    m.write(((z, z + 1), (60, 70), (100, 130)), np.ones((1, 10, 30), bool))
    return p, m


def one_more_voxel(m):
    """A copy of ``m`` with one more voxel: a save of an unchanged mask writes nothing, so cannot fail."""
    m = m.copy()
    m.write(((0, 1), (0, 1), (0, 1)), np.ones((1, 1, 1), bool))
    return m


def assert_clean_failure(err: BaseException, folder: Path, reason: str, out: Path, before: dict, mask, copy) -> None:
    text = str(err)
    assert str(folder) in text, f"the message does not name the folder {folder}: {text}"
    assert reason in text, f"the message does not give the reason {reason!r}: {text}"
    assert mask == copy and mask.count() == copy.count()  # the edits are kept
    if out.exists():
        assert snapshot(out) == before, "files under final names changed"
        assert part_files(out) == [], "a temporary file was left behind"
        for f in out.rglob("*.nii.gz"):
            check_nifti_complete(f)


def observer_folder(out: Path, p) -> Path:
    return out / p.id / "MR_StorT2" / "observerData"


@pytest.mark.parametrize("at_file", [1, 2, 3], ids=["sidecar", "version", "plain copy"])
@pytest.mark.slow
def test_disk_full_part_way_through_a_save(edited, tmp_path, at_file, figures):
    p, m = edited
    out = tmp_path / "out"
    p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=out)  # a previous version exists
    before = snapshot(out)
    m.write(((0, 1), (0, 4), (0, 4)), np.ones((1, 4, 4), bool))  # edited since
    copy = m.copy()
    with disk_full(at_file), pytest.raises(OSError) as exc:
        p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=out)
    assert exc.value.errno == errno.ENOSPC
    assert_clean_failure(exc.value, observer_folder(out, p), "No space left on device", out, before, m, copy)
    assert p.mask_obj("CTVT_427", "step1_obsF") != m  # the model still shows the saved version, v001
    # the same folder once space is free again: the next version is v002, its parent the real v001
    again = p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=out)
    assert again.name == "mask_CTVT_427_step1_obsF_v002.nii.gz"
    check_nifti_complete(again)
    elsewhere = p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=tmp_path / "other")
    check_nifti_complete(elsewhere)
    assert np.array_equal(load_array(elsewhere).astype(bool), m.to_full())
    figures["message"] = str(exc.value)


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES], ids=["read-only", "permission denied"])
@pytest.mark.parametrize("existing", [True, False], ids=["folder exists", "new folder"])
@pytest.mark.slow
def test_read_only_output_folder(edited, tmp_path, code, existing, figures):
    p, m = edited
    out = tmp_path / "out"
    if existing:
        p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=out)
        m = one_more_voxel(m)
    before = snapshot(out) if out.exists() else {}
    copy = m.copy()
    with read_only(code), pytest.raises(OSError) as exc:
        p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=out)
    assert exc.value.errno == code
    where = observer_folder(out, p) if existing else out
    assert_clean_failure(exc.value, where, STRERROR[code], out, before, m, copy)
    saved = p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=tmp_path / "other")
    check_nifti_complete(saved)
    figures["message"] = str(exc.value)


@pytest.mark.slow
def test_output_folder_removed_between_two_saves(edited, tmp_path):
    p, m = edited
    out = tmp_path / "out"
    p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=out)
    shutil.rmtree(out)  # another program (or the user) deletes the output folder
    copy = m.copy()
    saved = p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=out)  # recreated, not lost
    assert m == copy
    check_nifti_complete(saved)
    assert saved.name.endswith("_v001.nii.gz")
    side = saved.with_suffix("").with_suffix(".json")
    assert '"parent": null' in side.read_text()  # no parent that no longer exists


@pytest.mark.slow
def test_output_folder_removed_during_a_save(edited, tmp_path, figures):
    p, m = edited
    out = tmp_path / "out"
    p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=out)
    m = one_more_voxel(m)
    copy = m.copy()
    with folder_removed_during_save(out), pytest.raises(OSError) as exc:
        p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=out)
    assert exc.value.errno == errno.ENOENT
    assert_clean_failure(exc.value, observer_folder(out, p), STRERROR[errno.ENOENT], out, {}, m, copy)
    check_nifti_complete(p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=tmp_path / "other"))
    figures["message"] = str(exc.value)


@pytest.fixture()
def saved_on_mount(edited, tmpfs):
    """The edited patient, saved once to ``out`` on the tmpfs: (p, m, mnt, remount, out, files before)."""
    p, m = edited
    mnt, remount = tmpfs
    out = mnt / "out"
    p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=out)
    return p, m, mnt, remount, out, snapshot(out)


@pytest.mark.slow
def test_disk_really_full(saved_on_mount, tmp_path, figures):
    p, m, mnt, _, out, before = saved_on_mount
    free = shutil.disk_usage(mnt).free
    (mnt / "filler").write_bytes(b"\0" * max(0, free - 8192))  # leave 8 kB
    rng = np.random.default_rng(0)
    m.write(((0, 20), (0, 171), (0, 256)), rng.random((20, 171, 256)) < 0.5)  # does not compress to 8 kB
    copy = m.copy()
    with pytest.raises(OSError) as exc:
        p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=out)
    assert exc.value.errno == errno.ENOSPC
    assert_clean_failure(exc.value, observer_folder(out, p), "No space left on device", out, before, m, copy)
    (mnt / "filler").unlink()
    check_nifti_complete(p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=tmp_path / "other"))
    figures["message"] = str(exc.value)


@pytest.mark.slow
def test_really_read_only_mount(saved_on_mount, tmp_path, figures):
    p, m, mnt, remount, out, before = saved_on_mount
    remount("ro")
    m = one_more_voxel(m)
    copy = m.copy()
    try:
        with pytest.raises(OSError) as exc:
            p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=out)
        with pytest.raises(OSError):
            p.save_mask("Rectum", p.mask_obj("Rectum"), source="step1_obsF", out_dir=mnt / "new")
    finally:
        remount("rw")
    assert exc.value.errno == errno.EROFS
    assert_clean_failure(exc.value, observer_folder(out, p), "Read-only file system", out, before, m, copy)
    check_nifti_complete(p.save_mask("CTVT_427", m, source="step1_obsF", out_dir=tmp_path / "other"))
    figures["message"] = str(exc.value)


# -- the study: a failed save is not recorded, and the session goes on -----------------------------------
@pytest.mark.slow
def test_study_save_on_a_full_disk_is_not_recorded(tmp_path):
    tiny_patient(tmp_path, patient_id="LUNDPROBE_0433")
    study = tmp_path / "study"
    init_study(study, InitOptions(dataset_root=tmp_path / "ds", observers=["obsX"], seed=1), now=T0)
    with ObserverSession(study, "obsX", now=T0 + 1) as s:
        for name in s.structures:
            s.rate("quality", 3, structure=name, now=T0 + 2)
            s.rate("confidence", 4, structure=name, now=T0 + 3)
        m = s.begin_editing("CTVT_427", now=T0 + 4)
        copy = m.copy()
        state = (study / "sessions" / "obsX.json").read_bytes()
        with disk_full(1), pytest.raises(OSError) as exc:
            s.save_edit(m, structure="CTVT_427", now=T0 + 5)
        assert "No space left on device" in str(exc.value) and "observerData" in str(exc.value)
        assert m == copy
        assert (study / "sessions" / "obsX.json").read_bytes() == state  # nothing recorded
        assert s.state.steps[1].cases[0].structures["CTVT_427"].output_version is None
        assert not list((study / "output").rglob("*_v*.nii.gz")) and not part_files(study)
        saved = s.save_edit(m, structure="CTVT_427", now=T0 + 6)  # space again: saved and recorded
        assert saved.version_file.name.endswith("_v001.nii.gz")
        s.finish_case(now=T0 + 7)
    with ObserverSession(study, "obsX", now=T0 + 8) as s:
        assert s.state.steps[1].cases[0].status == "finished"


# -- the editor: save_failed, dirty kept, retry elsewhere ------------------------------------------------------
@pytest.mark.slow
def test_editor_save_failure_keeps_the_edit_dirty(demo_patient_path, tmp_path, qtbot, figures):
    from lundprobe_gui.render.scene import SceneRenderer
    from lundprobe_gui.render.state import ViewerState
    from lundprobe_gui.ui.edit_controller import EditController

    p = lp.open_patient(demo_patient_path)
    ctrl = EditController()
    ctrl.bind(p, SceneRenderer(p, ViewerState()))
    try:
        _editor_save_failure(ctrl, p, tmp_path, qtbot, figures)
    finally:  # no QObject with running timers left for the garbage collector of a later test
        ctrl._autosave_timer.stop()  # noqa: SLF001 - the controller's autosave timers have no public handle
        ctrl._debounce.stop()  # noqa: SLF001 - as above
        ctrl.deleteLater()
        qtbot.wait(10)


def _editor_save_failure(ctrl, p, tmp_path, qtbot, figures):
    key = ctrl.start_editing("CTVT_427", "nnUNet", "step1_obsF")
    box = p.mask_obj("CTVT_427", "nnUNet").bbox()
    z, y, x = (box[0][0] + box[0][1]) // 2, box[1][0], box[2][0]
    ctrl.set_tool("brush")
    for kind, pos in (("press", (z, y, x)), ("move", (z, y + 5, x + 5)), ("release", (z, y + 5, x + 5))):
        ctrl.handle(kind, 0, pos)
    assert ctrl.dirty() == [key]
    snap = ctrl.session.working(key).copy()
    failures: list[str] = []
    ctrl.save_failed.connect(lambda msg, keys: failures.append(msg))
    out = tmp_path / "out"
    for fault, reason in ((disk_full(1), "No space left on device"), (read_only(errno.EROFS), "Read-only file system")):
        with fault, qtbot.waitSignal(ctrl.save_failed, timeout=20000):
            t = ctrl.save(out_dir=out)
            t.join(20)
        assert reason in failures[-1] and str(out) in failures[-1], failures[-1]
        assert ctrl.dirty() == [key]
        assert ctrl.session.working(key) == snap
        assert not list(out.rglob("*.nii.gz")) if out.exists() else True
    with qtbot.waitSignal(ctrl.saved, timeout=20000):
        ctrl.save(out_dir=tmp_path / "other").join(20)
    qtbot.waitUntil(lambda: not ctrl.dirty(), timeout=10000)
    saved = list((tmp_path / "other").rglob("mask_CTVT_427_step1_obsF_v001.nii.gz"))
    assert saved
    check_nifti_complete(saved[0])
    figures["messages"] = failures
