"""Row helpers: CSV and text tables, pooling of histogram rows, DVH rows, dataset resolution, bench."""

from __future__ import annotations

import csv
import io
import json

import pytest

import lundprobe_gui as lp
from lundprobe_gui.batch import InputError, resolve_patients
from lundprobe_gui.metrics.dvh_rows import dose_frames, dvh_structures, patient_dvhs
from lundprobe_gui.metrics.edit_rows import edit_jobs, patient_edit_rows, pool_edit_rows, side_by_side
from lundprobe_gui.metrics.table import CsvStream, JsonRowsStream, format_table, rows_to_csv, write_csv


def _row(patient, structure, observer, step, k, edited, total, added=None):
    added = edited if added is None else added
    return {
        "patient": patient,
        "structure": structure,
        "observer": observer,
        "step": step,
        "bin_low": k / 20,
        "bin_high": (k + 1) / 20,
        "edited_voxels": edited,
        "added_voxels": added,
        "removed_voxels": edited - added,
        "total_voxels": total,
        "fraction_edited": edited / total if total else None,
    }


@pytest.mark.slow
def test_csv_round_trips_floats_exactly_and_none_as_empty(tmp_path) -> None:
    rows = [{"a": 0.1 + 0.2, "b": None, "c": "x,y", "d": 3}, {"a": 1e-17, "b": 2.5, "c": "", "d": 0}]
    text = rows_to_csv(rows, ["a", "b", "c", "d"])
    back = list(csv.DictReader(io.StringIO(text)))
    assert float(back[0]["a"]) == 0.1 + 0.2 and back[0]["b"] == "" and back[0]["c"] == "x,y"
    assert float(back[1]["a"]) == 1e-17 and back[1]["d"] == "0"
    out = write_csv(tmp_path / "t.csv", rows, ["d", "a"])
    assert out.read_text().splitlines()[0] == "d,a"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left
    with pytest.raises(FileNotFoundError):
        write_csv(tmp_path / "missing" / "t.csv", rows, ["a"])


@pytest.mark.slow
def test_format_table_aligns_and_marks_missing() -> None:
    text = format_table([{"name": "CTVT_427", "v": 0.123456}, {"name": "Rectum", "v": None}], ["name", "v"], digits=3)
    lines = text.splitlines()
    assert lines[0].split() == ["name", "v"]
    assert lines[2].split() == ["CTVT_427", "0.123"] and lines[3].split() == ["Rectum", "-"]
    assert len({len(x) for x in lines[1:3]}) == 1


@pytest.mark.slow
def test_pooling_sums_counts_and_recomputes_fractions() -> None:
    rows = [
        _row("P1", "CTVT_427", "obsB", 1, 0, 2, 10),
        _row("P1", "CTVT_427", "obsC", 1, 0, 6, 10),
        _row("P2", "CTVT_427", "obsB", 1, 0, 1, 20),
        _row("P1", "CTVT_427", "obsB", 2, 0, 0, 10),
        _row("P1", "CTVT_427", "obsB", 1, 1, 0, 0),
    ]
    everything = pool_edit_rows(rows)
    first = next(r for r in everything if r["step"] == 1 and r["bin_low"] == 0.0)
    assert (first["patient"], first["observer"]) == ("all", "all")
    assert (first["edited_voxels"], first["total_voxels"]) == (9, 40) and first["fraction_edited"] == 9 / 40
    empty = next(r for r in everything if r["bin_low"] == 0.05)
    assert empty["total_voxels"] == 0 and empty["fraction_edited"] is None
    per_observer = pool_edit_rows(rows, over_patients=True, over_observers=False)
    b = next(r for r in per_observer if r["observer"] == "obsB" and r["step"] == 1 and r["bin_low"] == 0.0)
    assert (b["edited_voxels"], b["total_voxels"]) == (3, 30)
    per_patient = pool_edit_rows(rows, over_patients=False, over_observers=True)
    assert {r["patient"] for r in per_patient} == {"P1", "P2"}


@pytest.mark.slow
def test_side_by_side_joins_the_steps() -> None:
    rows = [
        _row("all", "Rectum", "all", 1, 0, 4, 8),
        _row("all", "Rectum", "all", 2, 0, 1, 8),
        _row("all", "Rectum", "all", 1, 1, 3, 6),
    ]
    joined, steps = side_by_side(rows)
    assert steps == [1, 2] and len(joined) == 2
    assert (joined[0]["step1_fraction"], joined[0]["step2_fraction"]) == (0.5, 0.125)
    assert joined[1]["step2_edited"] is None and joined[1]["step1_total"] == 6


@pytest.mark.slow
def test_patient_rows_helpers(demo_patient_path) -> None:
    p = lp.open_patient(demo_patient_path)
    assert dose_frames(p) == ["MRI", "sCT"]
    refs = dvh_structures(p, ["MRI"], ["clinical"])
    assert {r.source for r in refs} == {"clinical"} and {r.frame for r in refs} == {"MRI"}
    dvhs, warnings = patient_dvhs(p, refs[:3])
    assert [d.key for d in dvhs] == [r.key for r in refs[:3]] and warnings == []
    jobs = edit_jobs(p)
    assert len(jobs) == 16 and {j.structure for j in jobs} == {"CTVT_427", "Rectum"}
    assert [(j.step, j.observer) for j in jobs[:5]] == [(1, "obsB"), (1, "obsC"), (1, "obsD"), (1, "obsE"), (2, "obsB")]
    rows, warnings = patient_edit_rows(p, jobs[:1])
    assert len(rows) == 10 and warnings == []


@pytest.mark.slow
def test_resolve_patients(demo_root, demo_patient_path, tmp_path) -> None:
    assert resolve_patients(demo_patient_path) == [demo_patient_path]
    assert resolve_patients(demo_root) == [demo_patient_path]
    with pytest.raises(InputError, match="no such file"):
        resolve_patients(tmp_path / "nothing")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        resolve_patients(tmp_path / "f.txt")


@pytest.mark.slow
def test_streamed_rows_are_byte_identical_to_the_whole_list(tmp_path) -> None:
    rows = [{"a": 0.1 + 0.2, "b": None, "c": 'x,"y"'}, {"a": 1e-300, "b": "=HYPERLINK(1)", "c": "é\n"}, {"a": -0.0}]
    cols = ["a", "b", "c"]
    buf = io.StringIO()
    js = JsonRowsStream(buf, cols)
    out = CsvStream(tmp_path / "s.csv", cols)
    for r in rows:
        js.write([r])
        out.write([r])
        assert not (tmp_path / "s.csv").exists()  # only the part file grows while the run goes on
    js.close()
    out.commit()
    assert buf.getvalue() == json.dumps([{c: r.get(c) for c in cols} for r in rows], indent=2) + "\n"
    assert (tmp_path / "s.csv").read_text() == rows_to_csv(rows, cols)
    empty = io.StringIO()
    JsonRowsStream(empty, cols).close()
    assert empty.getvalue() == "[]\n"
    gone = CsvStream(tmp_path / "g.csv", cols)
    gone.write(rows)
    gone.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]


@pytest.mark.slow
def test_bench_group_reports_both_figures(demo_patient_path) -> None:
    from lundprobe_gui.bench import metrics as bench_metrics

    figs = bench_metrics.run(demo_patient_path, 1)
    assert set(figs) == {"metrics_pair_s", "metrics_patient_s"}
    for samples, unit in figs.values():
        assert unit == "s" and len(samples) == 1 and samples[0] > 0  # how long is the bench's business
