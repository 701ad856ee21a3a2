"""The per-patient result cache: resuming a killed run, changed and grown datasets, --fresh, --rehash."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lundprobe_gui.batch import ResultCache, analyse_patient, fingerprint, run_batch
from lundprobe_gui.cli import main
from lundprobe_gui.demo import DemoOptions, generate
from lundprobe_gui.metrics.analyses import DvhAnalysis, MetricsAnalysis

from .helpers import counts


def entries(cache: Path) -> dict[str, int]:
    """Cache entry name -> modification time (ns)."""
    return {p.name: p.stat().st_mtime_ns for p in cache.glob("*.json")} if cache.is_dir() else {}


def metrics(capsys, root: Path, out_csv: Path, *extra: str) -> tuple[int, str]:
    # not --quiet: the run's summary line is what the tests read
    rc = main(["metrics", str(root), "--scheduler", "sync", "--csv", str(out_csv), *extra])
    return rc, capsys.readouterr().err


@pytest.fixture(scope="module")
def six_patients(tmp_path_factory) -> tuple[Path, bytes]:
    """Six small patients, and their metrics CSV computed in one process."""
    root = tmp_path_factory.mktemp("six") / "ds"
    generate(root, DemoOptions(patients=6, part="extended", size="small", seed=5))
    out = root.parent / "reference.csv"
    assert main(["metrics", str(root), "--scheduler", "sync", "--csv", str(out), "--quiet", "--fresh"]) == 0
    return root, out.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", ["processes", "tcp"])
def test_a_killed_run_resumes_computing_only_what_is_missing(scheduler, six_patients, request, tmp_path) -> None:
    # processes: the command and its own local cluster die together; tcp: the command dies and the
    # cluster started by this test lives on.
    if scheduler == "tcp":
        scheduler = request.getfixturevalue("cluster_address")
    root, reference = six_patients
    out_csv = tmp_path / "out" / "m.csv"
    out_csv.parent.mkdir()
    cache = tmp_path / "out" / "m.csv.cache"
    cmd = [sys.executable, "-m", "lundprobe_gui", "metrics", str(root), "--scheduler", scheduler, "--csv", str(out_csv)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while not entries(cache) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group, as the OOM killer or a lost node would
    proc.wait()
    before = entries(cache)
    assert 1 <= len(before) < 6, "the run was not killed half-way"
    assert not out_csv.exists()  # the output is only put in place by a finished run
    killed_parts = {p.name for p in out_csv.parent.iterdir() if p.name.endswith(".part")}
    assert len(killed_parts) == 1  # swept by a later run once it is older than any run could be writing it

    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert counts(r.stderr) == (6 - len(before), len(before), 0)
    after = entries(cache)
    assert len(after) == 6
    assert {k: after[k] for k in before} == before  # the cached patients were not computed again
    assert out_csv.read_bytes() == reference
    assert {p.name for p in out_csv.parent.iterdir() if p.name.endswith(".part")} == killed_parts


@pytest.mark.slow
def test_a_rerun_computes_only_changed_and_new_patients(root_copy, tmp_path, capsys) -> None:
    out_csv = tmp_path / "m.csv"
    assert metrics(capsys, root_copy, out_csv)[0] == 0
    first = out_csv.read_bytes()
    rc, err = metrics(capsys, root_copy, out_csv)
    assert rc == 0 and counts(err) == (0, 3, 0)
    assert out_csv.read_bytes() == first

    patients = sorted(p for p in root_copy.iterdir() if p.is_dir())
    # A mask rewritten (new modification time): that patient only.
    mask = patients[0] / "MR_StorT2" / "observerData" / "mask_Rectum_step1_obsB.nii.gz"
    os.utime(mask, ns=(mask.stat().st_atime_ns, mask.stat().st_mtime_ns + 10**9))
    rc, err = metrics(capsys, root_copy, out_csv)
    assert rc == 0 and counts(err) == (1, 2, 0)
    assert out_csv.read_bytes() == first  # same contents, same rows

    # A new observer's mask appears in a patient: recomputed, with the new pairs.
    shutil.copy(mask, mask.with_name("mask_Rectum_step1_obsF.nii.gz"))
    rc, err = metrics(capsys, root_copy, out_csv)
    assert rc == 0 and counts(err) == (1, 2, 0)
    assert b"step1_obsF" in out_csv.read_bytes()

    # The dataset grows by one patient.
    generate(tmp_path / "more", DemoOptions(patients=4, part="extended", size="small", seed=11))
    shutil.copytree(tmp_path / "more" / "LUNDPROBE_0436", root_copy / "LUNDPROBE_0436")
    rc, err = metrics(capsys, root_copy, out_csv)
    assert rc == 0 and counts(err) == (1, 3, 0)

    rc, err = metrics(capsys, root_copy, out_csv, "--fresh")
    assert rc == 0 and counts(err) == (4, 0, 0)

    # Another tolerance is another result: computed, and kept beside the first.
    rc, err = metrics(capsys, root_copy, out_csv, "--tolerance", "1")
    assert rc == 0 and counts(err) == (4, 0, 0)
    rc, err = metrics(capsys, root_copy, out_csv)
    assert rc == 0 and counts(err) == (0, 4, 0)


@pytest.mark.slow
def test_rehash_catches_a_file_changed_under_the_same_size_and_time(root_copy, tmp_path, capsys) -> None:
    out_csv = tmp_path / "m.csv"
    assert metrics(capsys, root_copy, out_csv)[0] == 0
    patient = sorted(p for p in root_copy.iterdir() if p.is_dir())[2]
    # Without hashes in the cache, a rehash run hashes everything once.
    rc, err = metrics(capsys, root_copy, out_csv, "--rehash")
    assert rc == 0 and counts(err) == (3, 0, 0)
    before = out_csv.read_bytes()

    # Swap two observers' masks of the same size and put the times back: a clock that lies.
    a = patient / "MR_StorT2" / "observerData" / "mask_CTVT_427_step1_obsB.nii.gz"
    b = patient / "MR_StorT2" / "observerData" / "mask_CTVT_427_step1_obsC.nii.gz"
    data_a = a.read_bytes()
    stat_a = a.stat()
    a.write_bytes(b.read_bytes()[: len(data_a)].ljust(len(data_a), b"\0"))
    os.utime(a, ns=(stat_a.st_atime_ns, stat_a.st_mtime_ns))
    assert a.stat().st_size == stat_a.st_size and a.read_bytes() != data_a

    rc, err = metrics(capsys, root_copy, out_csv)
    assert rc == 0 and counts(err) == (0, 3, 0)  # size and time alone cannot tell
    rc, err = metrics(capsys, root_copy, out_csv, "--rehash")
    assert counts(err)[:2] == (1, 2)
    assert out_csv.read_bytes() != before


@pytest.mark.slow
def test_a_damaged_cache_entry_is_computed_again(root_copy, tmp_path, capsys) -> None:
    out_csv = tmp_path / "m.csv"
    assert metrics(capsys, root_copy, out_csv)[0] == 0
    first = out_csv.read_bytes()
    cache = tmp_path / "m.csv.cache"
    victim = sorted(cache.glob("*.json"))[0]
    victim.write_text('{"format": 1, "outcome": ')
    rc, err = metrics(capsys, root_copy, out_csv)
    assert rc == 0 and counts(err) == (1, 2, 0)
    assert out_csv.read_bytes() == first
    assert json.loads(victim.read_text())["outcome"]["status"] == "ok"


def test_nothing_is_written_into_the_dataset(root_copy, tmp_path, capsys) -> None:
    patient = sorted(p for p in root_copy.iterdir() if p.is_dir())[0]
    listing = sorted(str(p) for p in root_copy.rglob("*"))
    for args in (
        ["--cache", str(root_copy / "cache")],
        ["--cache", str(patient)],
        ["--csv", str(root_copy / "m.csv")],
        ["--csv", str(patient / "MR_StorT2" / "m.csv")],
    ):
        assert main(["metrics", str(root_copy), "--scheduler", "sync", *args]) == 2
        assert "inside the dataset" in capsys.readouterr().err
    # A single patient's dataset root is the dataset too.
    assert main(["metrics", str(patient), "--scheduler", "sync", "--csv", str(root_copy / "m.csv")]) == 2
    assert "inside the dataset" in capsys.readouterr().err
    assert sorted(str(p) for p in root_copy.rglob("*")) == listing


@pytest.mark.slow
def test_the_fingerprint_never_opens_a_fifo(root_copy, tmp_path) -> None:
    patient = sorted(p for p in root_copy.iterdir() if p.is_dir())[0]
    os.mkfifo(patient / "notes.txt")
    code = (
        "import sys; from lundprobe_gui.batch import fingerprint; "
        "fp = fingerprint(sys.argv[1], rehash=True); print(dict((f[0], f[3]) for f in fp.files)['notes.txt'])"
    )
    r = subprocess.run([sys.executable, "-c", code, str(patient)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "None", r.stderr


@pytest.mark.slow
def test_run_batch_in_order_with_two_analyses_and_a_partial_cache(batch_root, tmp_path) -> None:
    paths = sorted(p for p in batch_root.iterdir() if p.is_dir())
    cache = ResultCache(tmp_path / "cache")
    metrics_only = list(run_batch(paths, [MetricsAnalysis()], scheduler="sync", cache=cache))
    seen = []
    both = list(
        run_batch(paths, [MetricsAnalysis(), DvhAnalysis()], scheduler="sync", cache=cache, progress=seen.append)
    )
    assert [r.path for r in both] == [str(p) for p in paths]
    assert [r.patient_id for r in both] == [p.name for p in paths]
    for one, two in zip(metrics_only, both):
        assert list(two.outcomes) == ["metrics", "dvh"]
        assert two.outcomes["metrics"].rows == one.outcomes["metrics"].rows
        assert two.outcomes["dvh"].rows == analyse_patient(one.path, [DvhAnalysis()]).outcomes["dvh"].rows
    assert seen[0].total == 3 and seen[0].cached == 0 and seen[-1].done == 3 and seen[-1].remaining == 0
    third = list(run_batch(paths, [DvhAnalysis(), MetricsAnalysis()], scheduler="sync", cache=cache))
    assert all(r.cached for r in third) and list(third[0].outcomes) == ["dvh", "metrics"]
    fp = fingerprint(paths[0])
    assert cache.get(fp, MetricsAnalysis(tolerance_mm=3.0)) is None
    assert cache.get(fp, MetricsAnalysis())[1].rows == both[0].outcomes["metrics"].rows


@pytest.mark.slow
def test_csv_and_cache_files_honour_the_umask(root_copy, tmp_path, capsys) -> None:
    out_csv = tmp_path / "m.csv"
    old = os.umask(0o027)
    try:
        assert metrics(capsys, root_copy, out_csv, "--fresh")[0] == 0
    finally:
        os.umask(old)
    assert out_csv.stat().st_mode & 0o777 == 0o640
    modes = {p.stat().st_mode & 0o777 for p in (tmp_path / "m.csv.cache").glob("*.json")}
    assert modes == {0o640}


@pytest.mark.slow
def test_the_csv_stream_refuses_a_hard_link_of_an_input(root_copy, tmp_path, capsys) -> None:
    patient = sorted(p for p in root_copy.iterdir() if p.is_dir())[0]
    image = patient / "MR_StorT2" / "image.nii.gz"
    before = image.read_bytes()
    os.link(image, tmp_path / "m.csv")
    import lundprobe_gui as lp

    opened = lp.open_patient(patient)  # an open patient's files are inputs (held while it is alive)
    rc, err = metrics(capsys, patient, tmp_path / "m.csv", "--fresh")
    assert rc == 2 and "m.csv" in err
    assert image.read_bytes() == before and opened.path == patient
