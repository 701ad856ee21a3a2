"""Batch commands on every scheduler: one process, a local cluster and a cluster reached over TCP.

The cluster is a ``LocalCluster`` with 2 worker processes started in this process; the commands
reach it as ``--scheduler tcp://...``, as they would a cluster of other machines.
"""

from __future__ import annotations

import csv
import json
import shutil

import pytest

import lundprobe_gui as lp
from lundprobe_gui.cli import main
from lundprobe_gui.metrics.compare import patient_comparisons

from .helpers import break_patient


def run(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.slow
def test_metrics_are_byte_identical_on_every_scheduler(batch_root, cluster_address, tmp_path, capsys) -> None:
    got = {}
    for name, scheduler in (("sync", "sync"), ("tcp", cluster_address), ("processes", "processes")):
        out_csv = tmp_path / f"{name}.csv"
        rc, out, err = run(
            capsys, "metrics", str(batch_root), "--scheduler", scheduler, "--csv", str(out_csv), "--json", "--fresh"
        )
        assert rc == 0, err
        assert "3 computed" in err and "0 failed" in err
        got[name] = (out_csv.read_bytes(), out)
    assert got["sync"] == got["tcp"] == got["processes"]

    rows = json.loads(got["sync"][1])
    patients = [lp.open_patient(p) for p in sorted(batch_root.iterdir()) if p.is_dir()]
    expected = [(p.id, c.structure, c.reference, c.test) for p in patients for c in patient_comparisons(p)]
    assert [(r["patient"], r["structure"], r["reference"], r["test"]) for r in rows] == expected
    with open(tmp_path / "sync.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [float(t["dice"]) for t in table] == [r["dice"] for r in rows]


@pytest.mark.parametrize("command", ["dvh", "uncertainty-edits"])
@pytest.mark.slow
def test_dvh_and_edits_are_byte_identical_over_tcp(command, batch_root, cluster_address, tmp_path, capsys) -> None:
    files = []
    for scheduler in ("sync", cluster_address):
        out_csv = tmp_path / f"{len(files)}.csv"
        rc, out, err = run(capsys, command, str(batch_root), "--scheduler", scheduler, "--csv", str(out_csv), "--json")
        assert rc == 0, err
        files.append((out_csv.read_bytes(), out))
    assert files[0] == files[1]
    rows = json.loads(files[0][1])
    assert {r["patient"] for r in rows} == {p.name for p in batch_root.iterdir() if p.is_dir()}


@pytest.mark.slow
def test_a_failing_patient_is_reported_and_the_run_goes_on(batch_root, root_copy, cluster_address, tmp_path, capsys):
    broken = sorted(p for p in root_copy.iterdir() if p.is_dir())[1]
    break_patient(broken)
    out_csv = tmp_path / "m.csv"
    rc, _, err = run(capsys, "metrics", str(root_copy), "--scheduler", cluster_address, "--csv", str(out_csv))
    assert rc == 1
    assert f"error: {broken.name}:" in err and "cannot be opened" in err
    assert "2 computed" in err and "1 failed" in err
    with open(out_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["patient"] for r in rows} == {p.name for p in root_copy.iterdir() if p.is_dir()} - {broken.name}
    assert len(rows) == 2 * 86

    # The failure is not cached: once the patient is repaired, only it is computed.
    shutil.rmtree(broken)
    shutil.copytree(batch_root / broken.name, broken)
    rc, _, err = run(capsys, "metrics", str(root_copy), "--scheduler", cluster_address, "--csv", str(out_csv))
    assert rc == 0, err
    assert "1 computed, 2 from the cache" in err
    reference = tmp_path / "ref.csv"
    assert main(["metrics", str(batch_root), "--scheduler", "sync", "--csv", str(reference), "--quiet", "--fresh"]) == 0
    assert out_csv.read_bytes() == reference.read_bytes()


@pytest.mark.slow
def test_a_patient_with_nothing_to_compare_is_not_a_failure(root_copy, cluster_address, capsys) -> None:
    bare = sorted(p for p in root_copy.iterdir() if p.is_dir())[0]
    shutil.rmtree(bare / "MR_StorT2" / "nnUNetOutput")
    shutil.rmtree(bare / "MR_StorT2" / "observerData")
    rc, out, err = run(capsys, "metrics", str(root_copy), "--scheduler", cluster_address, "--json")
    assert rc == 0, err
    assert f"warning: {bare.name}: nothing to compare" in err and "0 failed" in err
    assert bare.name not in {r["patient"] for r in json.loads(out)}


def test_every_patient_failing_exits_1_without_output(root_copy, tmp_path, capsys) -> None:
    for p in root_copy.iterdir():
        if p.is_dir():
            break_patient(p)
    out_csv = tmp_path / "m.csv"
    rc, out, err = run(capsys, "metrics", str(root_copy), "--scheduler", "sync", "--csv", str(out_csv), "--json")
    assert rc == 1 and out == "" and not out_csv.exists()
    assert err.count("cannot be opened") >= 3
    assert not [f for f in tmp_path.iterdir() if f.name.endswith(".part")]


@pytest.mark.slow
def test_scheduler_errors_exit_2(batch_root, capsys) -> None:
    rc, _, err = run(capsys, "metrics", str(batch_root), "--scheduler", "threads")
    assert rc == 2 and "--scheduler" in err
    rc, _, err = run(capsys, "metrics", str(batch_root), "--scheduler", "sync", "--workers", "2")
    assert rc == 2 and "--workers" in err
    # Nothing listens on this port of the loopback address.
    rc, _, err = run(capsys, "metrics", str(batch_root), "--scheduler", "tcp://127.0.0.1:9", "--fresh")
    assert rc == 2 and "cannot start or reach the Dask scheduler tcp://127.0.0.1:9" in err


@pytest.mark.slow
def test_commands_without_dask_do_not_import_it(batch_root) -> None:
    import subprocess
    import sys

    patient = sorted(p for p in batch_root.iterdir() if p.is_dir())[0]
    code = (
        "import sys, contextlib, io; from lundprobe_gui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['info', sys.argv[1], '--json']) == 0\n"
        "    assert main(['metrics', sys.argv[1], '--scheduler', 'sync', '--quiet', '--json']) == 0\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed', 'tornado'}))"
    )
    r = subprocess.run([sys.executable, "-c", code, str(patient)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
