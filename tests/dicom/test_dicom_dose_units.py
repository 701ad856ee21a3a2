"""The real RTDOSE read without its DoseGridScaling: flagged by plain ``info`` and never shown as Gy unconfirmed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

import lundprobe_gui as lp
from lundprobe_gui.cli import main
from lundprobe_gui.io.dicom import rtdose

from .conftest import with_series


@pytest.fixture(scope="module")
def unscaled_case(rt_case, tmp_path_factory) -> Path:
    """The real case with DoseGridScaling removed from its RTDOSE (stored integers up to 1,048,626)."""
    folder = with_series(tmp_path_factory.mktemp("unscaled") / "case", rt_case, rt_case / "rtss.dcm")
    ds = pydicom.dcmread(rt_case / "rtdose.dcm")
    del ds.DoseGridScaling
    ds.save_as(folder / "rtdose.dcm")
    return folder


def _problems(capsys, *args: str) -> list[dict]:
    capsys.readouterr()
    assert main(["info", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)["problems"]


def test_the_streaming_scan_reads_the_real_dose_range(rt_case, unscaled_case):
    ds = pydicom.dcmread(rt_case / "rtdose.dcm")
    raw = ds.pixel_array
    lo, hi, unscaled = rtdose.value_range(rt_case / "rtdose.dcm")
    assert not unscaled
    assert hi == pytest.approx(float(raw.max()) * float(ds.DoseGridScaling), rel=1e-6)
    assert lo == pytest.approx(float(raw.min()) * float(ds.DoseGridScaling), rel=1e-6)
    assert rtdose.value_range(unscaled_case / "rtdose.dcm") == (float(raw.min()), float(raw.max()), True)
    assert rtdose.value_range(rt_case / "rtss.dcm") is None  # not a dose


def test_plain_info_flags_an_rtdose_without_its_scaling(rt_case, unscaled_case, capsys):
    assert not [q for q in _problems(capsys, str(rt_case)) if q["kind"] == "implausible-dose"]
    got = [q for q in _problems(capsys, str(unscaled_case)) if q["kind"] == "implausible-dose"]
    assert len(got) == 1 and got[0]["path"].endswith("rtdose.dcm")
    assert "maximum 1,048,626 is not a plausible dose in Gy" in got[0]["message"]
    assert "DoseGridScaling" in got[0]["message"]


def test_the_unscaled_dose_is_neither_shown_nor_used_until_a_scale_is_confirmed(unscaled_case):
    p = lp.open_patient(unscaled_case)
    p.load_all(standby=False)
    flagged = [q for q in p.problems if q.kind == "implausible-dose"]
    assert len(flagged) == 1, flagged  # the file once, not once more for its resampled copy
    dose = p.dose()
    assert dose is None  # not offered as the dose while its scale is unconfirmed
    own = p.reference_frame.doses["dose_original"]
    own.load()
    assert own.unit_problem and own.vmax == pytest.approx(1_048_626)
    own.set_scale(1.4e-5)  # the scaling the file lost
    assert not own.unit_problem
    assert own.vmax == pytest.approx(1_048_626 * 1.4e-5, rel=1e-5)
    assert np.isfinite(own.data).all()
