"""``metrics``, ``dvh`` and ``uncertainty-edits`` on the command line: JSON, CSV, dataset roots, errors."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lundprobe_gui as lp
from lundprobe_gui.cli import main
from lundprobe_gui.demo import DemoOptions, generate
from lundprobe_gui.metrics import compute_dvh, pair_metrics
from lundprobe_gui.metrics.compare import METRICS_ROW_KEYS, patient_comparisons
from lundprobe_gui.metrics.dvh_rows import DVH_ROW_KEYS
from lundprobe_gui.metrics.edit_rows import EDIT_ROW_KEYS

CONTRACT_METRICS_KEYS = {
    "patient",
    "structure",
    "reference",
    "test",
    "dice",
    "jaccard",
    "hd_mm",
    "hd95_mm",
    "msd_mm",
    "surface_dice",
    "tolerance_mm",
    "apl_mm",
    "fnpl_mm",
    "volume_reference_cc",
    "volume_test_cc",
    "centroid_shift_mm",
}
CONTRACT_DVH_KEYS = {
    "patient",
    "structure",
    "source",
    "volume_cc",
    "mean_gy",
    "max_gy",
    "min_gy",
    "d98_gy",
    "d95_gy",
    "d50_gy",
    "d2_gy",
    "v95_percent",
    "v100_percent",
}


@pytest.fixture(scope="module")
def two_patient_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "ds"
    generate(root, DemoOptions(patients=2, part="extended", size="small", seed=7))
    return root


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The real command in a fresh interpreter (exit code, stdout and stderr as a user sees them)."""
    return subprocess.run([sys.executable, "-m", "lundprobe_gui", *args], capture_output=True, text=True, timeout=600)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def same_cell(cell: str, value) -> bool:
    """A CSV cell written from a JSON value: empty for None, exact float repr for numbers."""
    if value is None:
        return cell == ""
    if isinstance(value, float):
        return float(cell) == value
    return cell == str(value)


# -- metrics ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_metrics_dataset_root_json_and_csv_two_workers(two_patient_root, tmp_path) -> None:
    out_csv = tmp_path / "m.csv"
    r = run_cli("metrics", str(two_patient_root), "--json", "--tolerance", "2", "--csv", str(out_csv))
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    patients = [lp.open_patient(p) for p in sorted(two_patient_root.iterdir()) if p.is_dir()]
    assert len(patients) == 2
    expected = [(p.id, c.structure, c.reference, c.test) for p in patients for c in patient_comparisons(p)]
    assert [(r_["patient"], r_["structure"], r_["reference"], r_["test"]) for r_ in rows] == expected
    assert all(tuple(r_) == METRICS_ROW_KEYS for r_ in rows)
    assert set(rows[0]) >= CONTRACT_METRICS_KEYS
    assert "metrics" in r.stderr  # the progress report goes to stderr, never into the JSON

    # One row field by field against pair_metrics on the second patient's masks.
    p = patients[1]
    row = next(
        x
        for x in rows
        if x["patient"] == p.id
        and x["structure"] == "Rectum"
        and (x["reference"], x["test"]) == ("step1_obsD", "step2_obsD")
    )
    direct = pair_metrics(
        p.mask("Rectum", "step1_obsD"), p.mask("Rectum", "step2_obsD"), p.geometry.spacing_zyx, tolerance_mm=2.0
    )
    for k, v in direct.items():
        assert row[k] == v, k
    assert row["comparison"] == "intra_observer"

    table = read_csv(out_csv)
    assert list(table[0]) == list(METRICS_ROW_KEYS)
    assert len(table) == len(rows)
    for cells, js in zip(table, rows):
        for k in METRICS_ROW_KEYS:
            assert same_cell(cells[k], js[k]), (k, cells[k], js[k])


@pytest.mark.slow
def test_metrics_one_patient_in_process_matches_the_default(two_patient_root, capsys) -> None:
    patient_dir = sorted(p for p in two_patient_root.iterdir() if p.is_dir())[0]
    assert main(["metrics", str(patient_dir), "--json", "--scheduler", "sync", "--quiet", "--tolerance", "3"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert main(["metrics", str(patient_dir), "--json", "--fresh", "--quiet", "--tolerance", "3"]) == 0
    two = json.loads(capsys.readouterr().out)
    assert one == two
    assert {r["patient"] for r in one} == {patient_dir.name}
    assert all(r["tolerance_mm"] == 3.0 for r in one)


@pytest.mark.slow
def test_metrics_text_output(demo_patient_path, capsys) -> None:
    assert main(["metrics", str(demo_patient_path), "--scheduler", "sync", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["patient", "structure", "reference", "test"]
    assert "step1_obsB" in out and "nnUNet_fold_9" in out


@pytest.mark.slow
def test_missing_path_exit_2_without_traceback(tmp_path) -> None:
    for cmd in ("metrics", "dvh", "uncertainty-edits"):
        r = run_cli(cmd, str(tmp_path / "nope"), "--json")
        assert r.returncode == 2, (cmd, r.stderr)
        assert "Traceback" not in r.stderr and r.stdout == ""
        assert "no such file or folder" in r.stderr and str(tmp_path / "nope") in r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tolerance", "-1"], "--tolerance"),
        (["--workers", "0"], "--workers"),
        (["--csv", "/no/such/folder/out.csv"], "does not exist"),
    ],
)
@pytest.mark.slow
def test_bad_options_exit_2(demo_patient_path, capsys, args, message) -> None:
    assert main(["metrics", str(demo_patient_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_not_a_patient_folder(tmp_path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["dvh", str(tmp_path / "empty")]) == 2
    assert "neither a patient folder" in capsys.readouterr().err


@pytest.mark.slow
def test_patient_without_dl_has_nothing_to_compare(patient_copy, capsys) -> None:
    shutil.rmtree(patient_copy / "MR_StorT2" / "nnUNetOutput")
    shutil.rmtree(patient_copy / "MR_StorT2" / "observerData")
    assert main(["metrics", str(patient_copy), "--quiet"]) == 2
    assert "nothing to compare" in capsys.readouterr().err
    assert main(["uncertainty-edits", str(patient_copy), "--quiet"]) == 2
    assert "no uncertainty-versus-edits" in capsys.readouterr().err


@pytest.mark.slow
def test_undecodable_observer_mask_is_skipped_with_a_warning(demo_patient_path, capsys, monkeypatch) -> None:
    # Whatever damage the reader detects (bad gzip CRC, truncated data...) reaches the patient
    # as an exception from the mask store; simulate that for one file, inline (workers 1).
    from lundprobe_gui.io.store import FileStore

    real = FileStore.load_mask

    def failing(self, ref, geometry):
        if (ref.name, ref.source) == ("Rectum", "step2_obsC"):
            raise OSError("corrupt or truncated gzip data (CRC check failed)")
        return real(self, ref, geometry)

    monkeypatch.setattr(FileStore, "load_mask", failing)
    assert main(["metrics", str(demo_patient_path), "--json", "--quiet", "--scheduler", "sync"]) == 0
    assert "warning" not in capsys.readouterr().err.lower()  # --quiet silences warnings
    assert main(["metrics", str(demo_patient_path), "--json", "--scheduler", "sync"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert not [r for r in rows if r["structure"] == "Rectum" and "step2_obsC" in (r["reference"], r["test"])]
    assert len(rows) == 86 - 6  # DL, step 1, clinical, and three step-2 observers lose their pair with it
    assert [r for r in rows if r["structure"] == "CTVT_427" and r["test"] == "step2_obsC"]
    assert "warning:" in captured.err and "step2_obsC" in captured.err and "CRC" in captured.err
    assert "6 pair(s) skipped" in captured.err


# -- dvh -------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_dvh_rows_for_every_structure_of_every_dose_frame(demo_patient_path, tmp_path, capsys) -> None:
    out_csv = tmp_path / "d.csv"
    assert (
        main(
            [
                "dvh",
                str(demo_patient_path),
                "--json",
                "--csv",
                str(out_csv),
                "--prescription",
                "40",
                "--workers",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert set(rows[0]) >= CONTRACT_DVH_KEYS and tuple(rows[0]) == DVH_ROW_KEYS
    p = lp.open_patient(demo_patient_path)
    mri = {(r["structure"], r["source"]) for r in rows if r["frame"] == "MRI"}
    assert mri == {(s.name, s.source) for s in p.structures("MRI")}
    sct = {(r["structure"], r["source"]) for r in rows if r["frame"] == "sCT"}
    assert sct == {(s.name, s.source) for s in p.structures("sCT")}
    assert [r["frame"] for r in rows] == sorted((r["frame"] for r in rows), key=lambda f: f != "MRI")

    row = next(r for r in rows if (r["frame"], r["structure"], r["source"]) == ("MRI", "CTVT_427", "clinical"))
    dose = p.dose("MRI").array().astype(np.float64)
    inside = dose[p.mask("CTVT_427")]
    assert row["mean_gy"] == pytest.approx(inside.mean(), rel=1e-12)
    assert row["max_gy"] == inside.max() and row["min_gy"] == inside.min()
    assert row["v100_percent"] == pytest.approx(100.0 * np.count_nonzero(inside >= 40.0) / inside.size)
    assert row["v95_percent"] == pytest.approx(100.0 * np.count_nonzero(inside >= 38.0) / inside.size)
    assert row["volume_cc"] == pytest.approx(inside.size * np.prod(p.geometry.spacing) / 1000.0)
    d = compute_dvh(p.mask_obj("CTVT_427"), p.dose("MRI"), p.geometry.spacing_zyx, 40.0).stats
    assert (row["d98_gy"], row["d95_gy"], row["d50_gy"], row["d2_gy"]) == (d.d98_gy, d.d95_gy, d.d50_gy, d.d2_gy)

    table = read_csv(out_csv)
    assert len(table) == len(rows)
    for k in DVH_ROW_KEYS:
        assert same_cell(table[3][k], rows[3][k])


@pytest.mark.slow
def test_dvh_filters(demo_patient_path, capsys) -> None:
    assert main(["dvh", str(demo_patient_path), "--json", "--frame", "sCT", "--quiet", "--scheduler", "sync"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["frame"] for r in rows} == {"sCT"}
    assert (
        main(
            [
                "dvh",
                str(demo_patient_path),
                "--json",
                "--source",
                "nnUNet",
                "--source",
                "step1_obsB",
                "--quiet",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert {(r["structure"], r["source"]) for r in rows} == {
        (s, src) for s in ("CTVT_427", "Rectum") for src in ("nnUNet", "step1_obsB")
    }
    assert main(["dvh", str(demo_patient_path), "--source", "nobody", "--quiet"]) == 2
    assert "no DVH" in capsys.readouterr().err


# -- uncertainty-edits -----------------------------------------------------------------------------
def hand_count(p, structure: str, source: str) -> tuple[list[int], list[int], list[int]]:
    """Added, removed and total voxels per bin, counted on full arrays with plain comparisons."""
    dl = p.mask(structure, "nnUNet")
    ed = p.mask(structure, source)
    unc = np.nan_to_num(p.uncertainty(structure).array().astype(np.float64))
    added, removed = ed & ~dl, dl & ~ed
    region = (unc > 0) | added | removed
    out: tuple[list[int], list[int], list[int]] = ([], [], [])
    for k in range(10):
        lo, hi = k / 20, (k + 1) / 20
        in_bin = unc >= lo if k == 9 else (unc < hi) if k == 0 else (unc >= lo) & (unc < hi)
        for lst, m in zip(out, (added, removed, region)):
            lst.append(int(np.count_nonzero(m & in_bin)))
    return out


@pytest.mark.slow
def test_uncertainty_edits_rows_against_a_hand_count(demo_patient_path, tmp_path, capsys) -> None:
    out_csv = tmp_path / "u.csv"
    assert main(["uncertainty-edits", str(demo_patient_path), "--json", "--csv", str(out_csv), "--quiet"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert tuple(rows[0]) == EDIT_ROW_KEYS
    p = lp.open_patient(demo_patient_path)
    assert len(rows) == 2 * 2 * 4 * 10  # structures x steps x observers x bins
    for structure, source in (("CTVT_427", "step1_obsB"), ("Rectum", "step2_obsE")):
        step, obs = int(source[4]), source.split("_")[1]
        got = [r for r in rows if (r["structure"], r["step"], r["observer"]) == (structure, step, obs)]
        assert [r["bin_low"] for r in got] == pytest.approx([k / 20 for k in range(10)])
        added, removed, total = hand_count(p, structure, source)
        assert [r["added_voxels"] for r in got] == added
        assert [r["removed_voxels"] for r in got] == removed
        assert [r["total_voxels"] for r in got] == total
        assert [r["edited_voxels"] for r in got] == [a + b for a, b in zip(added, removed)]
        for r, a, b, t in zip(got, added, removed, total):
            assert r["fraction_edited"] == (None if t == 0 else pytest.approx((a + b) / t))
        assert sum(added) + sum(removed) > 0
    assert len(read_csv(out_csv)) == len(rows)


@pytest.mark.slow
def test_uncertainty_edits_pooled_and_text(two_patient_root, capsys) -> None:
    assert main(["uncertainty-edits", str(two_patient_root), "--json", "--quiet", "--scheduler", "sync"]) == 0
    per = json.loads(capsys.readouterr().out)
    assert (
        main(["uncertainty-edits", str(two_patient_root), "--json", "--pool", "all", "--quiet", "--scheduler", "sync"])
        == 0
    )
    pooled = json.loads(capsys.readouterr().out)
    assert len(pooled) == 2 * 2 * 10 and {r["patient"] for r in pooled} == {"all"}
    for r in pooled:
        parts = [
            x for x in per if (x["structure"], x["step"], x["bin_low"]) == (r["structure"], r["step"], r["bin_low"])
        ]
        assert len(parts) == 2 * 4
        assert r["edited_voxels"] == sum(x["edited_voxels"] for x in parts)
        assert r["total_voxels"] == sum(x["total_voxels"] for x in parts)
    assert (
        main(["uncertainty-edits", str(two_patient_root), "--pool", "observers", "--quiet", "--scheduler", "sync"]) == 0
    )
    text = capsys.readouterr().out
    header = text.splitlines()[0].split()
    assert header[:5] == ["patient", "structure", "observer", "bin_low", "bin_high"]
    assert "step1_fraction" in header and "step2_fraction" in header


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass


def _result(pid: str, failed: bool = False):
    from lundprobe_gui.batch.patient import PatientResult
    from lundprobe_gui.metrics.analyses import Outcome

    outcome = Outcome("failed", reason="cannot be opened: no image") if failed else Outcome("ok", [{"x": 1}])
    return PatientResult(pid, pid, {"metrics": outcome})


def test_progress_bar_on_a_terminal_and_in_a_log() -> None:
    from lundprobe_gui.batch import BatchStatus
    from lundprobe_gui.cli.batch_cli import BatchProgress

    def feed(bar) -> None:
        bar(BatchStatus(4, cached=1, done=1))
        bar(BatchStatus(4, cached=1, done=2, last=_result("P2")))
        bar(BatchStatus(4, cached=1, done=2, failed=1, last=_result("P3", failed=True)))
        bar(BatchStatus(4, cached=1, done=3, failed=1, last=_result("P4")))
        bar.close()

    tty = _Stream(True)
    feed(BatchProgress("metrics", stream=tty))
    assert "\r" in tty.text
    assert "error: P3: failed: cannot be opened: no image" in tty.text
    last = tty.text.rstrip("\n").split("\r")[-1]
    assert "4/4 patients" in last and "1 failed, 0 remaining, 1 from the cache" in last

    log = _Stream(False)
    feed(BatchProgress("dvh", stream=log))
    assert "\r" not in log.text
    lines = log.text.splitlines()
    assert [ln.split(" |")[0] for ln in lines if "|" in ln] == [
        "dvh: 2/4 patients",
        "dvh: 3/4 patients",
        "dvh: 4/4 patients",
    ]
    assert "error: P3: failed: cannot be opened: no image" in lines
    assert "1 failed, 1 remaining" in lines[-2] or "1 failed, 1 remaining" in log.text

    quiet = _Stream(True)
    bar = BatchProgress("x", enabled=False, stream=quiet)
    bar(BatchStatus(2, done=1, last=_result("P1")))
    bar(BatchStatus(2, done=1, failed=1, last=_result("P2", failed=True)))
    bar.close()
    assert quiet.text == "error: P2: failed: cannot be opened: no image\n"
