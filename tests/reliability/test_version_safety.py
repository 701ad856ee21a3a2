"""8. Versions keep their provenance, the plain copy stays the newest, files honour the umask, and
``verify`` finds every change: attacks with real processes, SIGKILL and edited files.

Each test names its class in ``figures["attack_class"]`` (``provenance``, ``concurrency``, ``umask``,
``verify``): ``report.py`` counts the attacks per class.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import lundprobe_gui as lp
from lundprobe_gui.core.patient import StructureRef
from lundprobe_gui.edit import recovery
from lundprobe_gui.io.store import FileStore
from lundprobe_gui.io.verify import TamperedFile, verify_folder
from lundprobe_gui.io.versions import VersionError
from lundprobe_gui.io.writer import STALE_PART_S
from lundprobe_gui.metrics.table import write_csv
from lundprobe_gui.review import ReviewSession, init_review
from lundprobe_gui.study import CorruptStudyFile, InitOptions, ObserverSession, export_study, init_study

from .helpers import subprocess_env, time_limit, work_first_case

T0 = 1_740_988_800.0
HERE = Path(__file__).resolve().parent
OBS = Path("LUNDPROBE_0433") / "MR_StorT2" / "observerData"


def _edited(p, k: int = 0):
    m = p.mask_obj("CTVT_427", "nnUNet").copy()
    m.write(((0, 1), (k % 8, k % 8 + 1), (0, 2)), np.ones((1, 1, 2), bool))
    return m


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Workers:
    """``n`` processes of ``save_worker.py`` saving one series; :meth:`round` lets each save once, at once."""

    def __init__(self, ds: Path, out: Path, n: int, saves: int, tmp: Path, mode: str = "") -> None:
        self.start = tmp / f"start-{time.monotonic_ns()}"
        self.i = 0
        self.procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / "save_worker.py"),
                    ds / "LUNDPROBE_0433",
                    out,
                    str(saves),
                    str(k),
                    self.start,
                    mode,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=subprocess_env(),
            )
            for k in range(n)
        ]

    def round(self) -> list[str]:
        """Release the next save of every worker; the lines they print once it returned."""
        Path(f"{self.start}.{self.i}").touch()
        self.i += 1
        return [p.stdout.readline().strip() for p in self.procs]

    def finish(self) -> list[subprocess.CompletedProcess]:
        return [subprocess.CompletedProcess(p.args, p.wait(timeout=300), *p.communicate()) for p in self.procs]


# -- provenance ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["file_sha256", "version", "voxels", "voxel_sha256", "structure", "app", "time"])
@pytest.mark.slow
def test_provenance_cannot_overwrite_computed_fields(ds, tmp_path, key, attack):
    attack("provenance")
    p = lp.open_patient(ds / "LUNDPROBE_0433")
    with pytest.raises(VersionError, match=key):
        p.save_mask("CTVT_427", _edited(p), source="step1_obsF", out_dir=tmp_path / "out", **{key: "forged"})
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", [object(), float("nan"), {1, 2}, b"bytes", {"stats": float("inf")}], ids=repr)
def test_provenance_that_cannot_be_stored_writes_nothing(ds, tmp_path, value, attack):
    attack("provenance")
    p = lp.open_patient(ds / "LUNDPROBE_0433")
    with pytest.raises(VersionError, match="cannot be stored"):
        p.save_mask("CTVT_427", _edited(p), source="step1_obsF", out_dir=tmp_path / "out", note=value)
    assert not (tmp_path / "out").exists()
    path = p.save_mask("CTVT_427", _edited(p), source="step1_obsF", out_dir=tmp_path / "out", note="fine")
    assert path.name.endswith("_v001.nii.gz")


@pytest.mark.slow
def test_sigkill_between_sidecar_and_version_never_leaves_a_version_without_provenance(ds, tmp_path, attack):
    attack("provenance")
    out = tmp_path / "out"
    p = lp.open_patient(ds / "LUNDPROBE_0433")
    p.save_mask("CTVT_427", _edited(p), source="step1_obsW", out_dir=out)  # v001, complete
    w = Workers(ds, out, 1, 1, tmp_path, "version-link")
    w.round()
    (run,) = w.finish()
    assert run.returncode == -signal.SIGKILL, run.stderr
    folder = out / OBS
    versions = sorted(f.name for f in folder.glob("mask_CTVT_427_step1_obsW_v*"))
    assert versions == [
        "mask_CTVT_427_step1_obsW_v001.json",
        "mask_CTVT_427_step1_obsW_v001.nii.gz",
        "mask_CTVT_427_step1_obsW_v002.json",  # provenance without data: harmless
    ]
    rep = verify_folder(out)
    assert rep.ok and [f.kind for f in rep.findings] == ["orphan-sidecar"]
    third = p.save_mask("CTVT_427", _edited(p, 1), source="step1_obsW", out_dir=out)
    assert third.name.endswith("_v003.nii.gz")
    assert json.loads(third.with_suffix("").with_suffix(".json").read_text())["parent"] == versions[1]
    # once the orphan is older than a save can take, the next save sweeps it
    old = time.time() - STALE_PART_S - 60
    os.utime(folder / versions[2], (old, old))
    p.save_mask("CTVT_427", _edited(p, 2), source="step1_obsW", out_dir=out)
    assert not (folder / versions[2]).exists()
    assert verify_folder(out).findings == []


def test_a_version_without_provenance_from_an_older_version_is_moved_aside(ds, tmp_path, attack):
    attack("provenance")
    out = tmp_path / "out"
    p = lp.open_patient(ds / "LUNDPROBE_0433")
    first = p.save_mask("CTVT_427", _edited(p), source="step1_obsF", out_dir=out)
    orphan = first.with_name("mask_CTVT_427_step1_obsF_v002.nii.gz")
    orphan.write_bytes(first.read_bytes())  # as a kill between version and sidecar left it, long ago
    old = time.time() - STALE_PART_S - 60
    os.utime(orphan, (old, old))
    assert verify_folder(out).counts() == {"no-provenance": 1}
    new = p.save_mask("CTVT_427", _edited(p, 3), source="step1_obsF", out_dir=out)
    side = json.loads(new.with_suffix("").with_suffix(".json").read_text())
    assert side["parent"] == first.name  # never the version without provenance
    assert not orphan.exists() or json.loads(orphan.with_suffix("").with_suffix(".json").read_text())
    rep = verify_folder(out)
    assert rep.ok and rep.counts() == {"orphan-moved-aside": 1}


# -- concurrency ----------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("processes", [2, 3])
def test_the_plain_copy_is_the_newest_version_after_concurrent_saves(ds, tmp_path, processes, attack, figures):
    attack("concurrency")
    out, rounds = tmp_path / "out", 6
    folder = out / OBS
    w = Workers(ds, out, processes, rounds, tmp_path, "slow-plain")
    stale = []
    for r in range(rounds):
        lines = w.round()  # every worker saved once, at the same moment, each waiting 0-300 ms before its plain copy
        assert all(line.startswith("SAVED") for line in lines), (lines, [x.stderr for x in w.finish()])
        newest = max(folder.glob("mask_CTVT_427_step1_obsW_v*.nii.gz"))
        if _sha(folder / "mask_CTVT_427_step1_obsW.nii.gz") != _sha(newest):
            stale.append(f"round {r}: the plain copy is not {newest.name}")
    runs = w.finish()
    assert all(r.returncode == 0 for r in runs), [r.stderr[-2000:] for r in runs]
    assert not stale, stale
    numbers = sorted(int(f.name[-10:-7]) for f in folder.glob("mask_CTVT_427_step1_obsW_v*.nii.gz"))
    assert numbers == list(range(1, processes * rounds + 1))  # every save got its own number, none lost
    for n in numbers:
        side = json.loads((folder / f"mask_CTVT_427_step1_obsW_v{n:03d}.json").read_text())
        assert side["version"] == n and (side["parent"] is None) == (n == 1)
        assert side["parent"] is None or int(side["parent"][-10:-7]) < n
    assert verify_folder(out).findings == []
    figures["saves"] = len(numbers)
    figures["rounds_checked"] = rounds


# -- umask ------------------------------------------------------------------------------------------------------
@pytest.fixture()
def umask():
    old = os.umask(0o022)
    os.umask(old)

    def set_(mask: int) -> None:
        os.umask(mask)

    yield set_
    os.umask(old)


def _modes(folder: Path) -> dict[str, int]:
    return {
        str(f.relative_to(folder)): stat.S_IMODE(f.lstat().st_mode)
        for f in folder.rglob("*")
        if f.is_file() and not f.is_symlink()
    }


@pytest.mark.parametrize("mask,mode", [(0o002, 0o664), (0o077, 0o600), (0o022, 0o644)])
@pytest.mark.slow
def test_saved_edits_honour_the_umask(ds, tmp_path, umask, mask, mode, attack):
    attack("umask")
    p = lp.open_patient(ds / "LUNDPROBE_0433")
    umask(mask)
    for k in range(2):
        p.save_mask("CTVT_427", _edited(p, k), source="step1_obsF", out_dir=tmp_path / "out")
    write_csv(tmp_path / "out" / "metrics.csv", [{"a": 1}], ["a"])
    recovery.autosave(tmp_path / "area", p.path, p.id, [("CTVT_427", "step1_obsF", "nnUNet", _edited(p), None)])
    modes = {**_modes(tmp_path / "out"), **_modes(tmp_path / "area")}
    assert len(modes) >= 9 and set(modes.values()) == {mode}, modes  # versions, sidecars, plain, marker, owner...


@pytest.mark.slow
def test_study_and_review_files_honour_the_umask(ds, tmp_path, umask, attack):
    attack("umask")
    umask(0o002)  # a study shared by an administrator and observer accounts in one group
    study = tmp_path / "study"
    init_study(study, InitOptions(dataset_root=ds, observers=["obs1"], seed=1), now=T0)
    work_first_case(study, "obs1", T0)
    with ObserverSession(study, "obs1", now=T0 + 10):
        lock = stat.S_IMODE((study / "sessions" / "obs1.lock").stat().st_mode)
    export_study(study)
    review = tmp_path / "review"
    init_review(review, ds, "rev1")
    rs = ReviewSession(review)
    rs.close()
    modes = {**_modes(study), **_modes(review)}
    assert lock == 0o664
    assert {"study.json", "audit.log", "results.csv", "sessions/obs1.json", "export/.lundprobe-export.json"} <= set(
        modes
    )
    assert {"review.json", "state.json"} <= set(modes)
    assert set(modes.values()) == {0o664}, modes


def test_a_replaced_file_keeps_its_mode(ds, tmp_path, umask, attack):
    attack("umask")
    p = lp.open_patient(ds / "LUNDPROBE_0433")
    umask(0o022)
    first = p.save_mask("CTVT_427", _edited(p), source="step1_obsF", out_dir=tmp_path / "out")
    plain = first.with_name("mask_CTVT_427_step1_obsF.nii.gz")
    os.chmod(plain, 0o640)  # the administrator restricted it
    p.save_mask("CTVT_427", _edited(p, 1), source="step1_obsF", out_dir=tmp_path / "out")
    assert stat.S_IMODE(plain.stat().st_mode) == 0o640


# -- verify -------------------------------------------------------------------------------------------------------
@pytest.fixture()
def saved(ds, tmp_path):
    p = lp.open_patient(ds / "LUNDPROBE_0433")
    out = tmp_path / "out"
    paths = [p.save_mask("CTVT_427", _edited(p, k), source="step1_obsF", out_dir=out) for k in range(3)]
    return p, out, paths


def _verify_cli(out: Path) -> tuple[int, dict]:
    r = subprocess.run(
        [sys.executable, "-m", "lundprobe_gui", "verify", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(),
    )
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, json.loads(r.stdout)


def _flip_byte(path: Path) -> None:
    b = bytearray(path.read_bytes())
    b[len(b) // 2] ^= 0x01
    path.write_bytes(bytes(b))


TAMPERING = {
    "a byte of a version flipped": lambda paths: _flip_byte(paths[1]),
    "a version replaced by another valid version": lambda paths: paths[0].write_bytes(paths[2].read_bytes()),
    "a sidecar's sha256 rewritten": lambda paths: _rewrite_sidecar(paths[1], file_sha256="0" * 64),
    "a sidecar removed": lambda paths: paths[1].with_suffix("").with_suffix(".json").unlink(),
    "the plain copy replaced by other bytes": lambda paths: _plain(paths).write_bytes(paths[0].read_bytes()[:-4]),
}


def _plain(paths: list[Path]) -> Path:
    return paths[0].with_name("mask_CTVT_427_step1_obsF.nii.gz")


def _rewrite_sidecar(version: Path, **fields) -> None:
    side = version.with_suffix("").with_suffix(".json")
    d = json.loads(side.read_text())
    d.update(fields)
    side.write_text(json.dumps(d))


@pytest.mark.slow
def test_verify_passes_an_untouched_folder_and_its_help_names_sha256(saved, attack):
    attack("verify")
    _, out, _ = saved
    code, rep = _verify_cli(out)
    assert code == 0 and rep["ok"] and rep["versions"] == 3 and rep["plain_copies"] == 1 and not rep["findings"]
    r = subprocess.run(
        [sys.executable, "-m", "lundprobe_gui", "verify", "--help"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
    )
    assert r.returncode == 0 and "sha256" in r.stdout


@pytest.mark.parametrize("how", list(TAMPERING))
@pytest.mark.slow
def test_verify_reports_tampering(saved, how, attack):
    attack("verify")
    _, out, paths = saved
    TAMPERING[how](paths)
    code, rep = _verify_cli(out)
    assert code == 1 and not rep["ok"], rep
    assert {f["kind"] for f in rep["findings"]} & {"tampered", "no-provenance", "plain-mismatch"}


@pytest.mark.slow
def test_verify_reports_a_stale_plain_copy_and_a_changed_export(ds, tmp_path, saved, attack):
    attack("verify")
    _, out, paths = saved
    _plain(paths).write_bytes(paths[0].read_bytes())
    code, rep = _verify_cli(out)
    assert code == 0 and [f["kind"] for f in rep["findings"]] == ["stale-plain"]
    study = tmp_path / "study"
    init_study(study, InitOptions(dataset_root=ds, observers=["obs1"], seed=1), now=T0)
    work_first_case(study, "obs1", T0)
    rep_export = export_study(study)
    _flip_byte(rep_export.copied[0])
    code, rep = _verify_cli(study / "export")
    assert code == 1 and [f["kind"] for f in rep["findings"]] == ["export-changed"]


@pytest.mark.slow
def test_verify_does_not_hang_on_a_fifo(saved, attack):
    attack("verify")
    _, out, paths = saved
    paths[1].unlink()
    os.mkfifo(paths[1])
    side = paths[2].with_suffix("").with_suffix(".json")
    side.unlink()
    os.mkfifo(side)
    with time_limit(20, "verify"):
        rep = verify_folder(out)
    assert not rep.ok and {"unreadable", "bad-sidecar"} <= set(rep.counts())


@pytest.mark.parametrize("which", ["version", "plain copy"])
def test_reopening_a_changed_saved_edit_is_refused(saved, which, attack):
    attack("verify")
    p, _out, paths = saved
    target = paths[2] if which == "version" else _plain(paths)
    _flip_byte(target)
    with pytest.raises(TamperedFile, match="sha256"):
        FileStore().load_mask(StructureRef("CTVT_427", "step1_obsF", "MRI", str(target)), p.geometry)
    p.register_structure(StructureRef("CTVT_427", "step1_obsF", "MRI", str(target)))  # not in memory: read again
    assert not p.try_load_mask(p.structure("CTVT_427", "step1_obsF"))
    assert any(pr.kind == "tampered" and pr.path == str(target) for pr in p.problems)


def test_a_study_resumed_on_a_changed_version_refuses_it(ds, tmp_path, attack):
    attack("verify")
    study = tmp_path / "study"
    init_study(study, InitOptions(dataset_root=ds, observers=["obs1"], seed=1), now=T0)
    saved = work_first_case(study, "obs1", T0, finish=False)[0]  # CTVT_427
    _flip_byte(saved.version_file)
    with ObserverSession(study, "obs1", now=T0 + 10) as s, pytest.raises(CorruptStudyFile, match="sha256"):
        s.begin_editing("CTVT_427", now=T0 + 11)
