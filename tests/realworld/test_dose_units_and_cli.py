"""Doses that are not in Gy, loads that cannot fit, and the command-line rules of real-world input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zlib

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

import lundprobe_gui as lp
from lundprobe_gui.cli import build_parser
from lundprobe_gui.metrics.dvh_rows import patient_dvhs
from lundprobe_gui.render.scene import SceneRenderer
from lundprobe_gui.render.state import ViewerState

RAW_MAX = 1_048_626


def _env():
    return dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=os.pathsep.join(sys.path))


def _cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "lundprobe_gui", *args], capture_output=True, text=True, env=_env(), timeout=timeout
    )


@pytest.fixture()
def unscaled_dose_case(tmp_path):
    """An image, a mask and an int32 dose holding RTDOSE-style stored values (Gy = value * 4e-5)."""
    tmp_path = tmp_path / "ds" / "case1"  # its own dataset root: the window lists no other test's folders
    tmp_path.mkdir(parents=True)
    shape = (30, 32, 12)
    z, y, x = np.indices(shape[::-1])
    image = sitk.GetImageFromArray((100 + 5 * x + 3 * y).astype(np.int16))
    image.SetSpacing((1.0, 1.0, 2.5))
    gy = RAW_MAX * 4e-5 * np.exp(-((x - 16) ** 2 + (y - 15) ** 2 + ((z - 6) * 2.5) ** 2) / 80.0)
    dose = sitk.GetImageFromArray(np.round(gy / 4e-5).astype(np.int32))
    mask = sitk.GetImageFromArray(((x - 16) ** 2 + (y - 15) ** 2 < 25).astype(np.uint8))
    for img, name in ((image, "image"), (dose, "dose"), (mask, "mask_PTV")):
        img.CopyInformation(image)
        sitk.WriteImage(img, str(tmp_path / f"{name}.nii.gz"))
    return tmp_path


@pytest.mark.slow
def test_info_flags_a_dose_that_is_not_gy_from_a_streaming_scan(unscaled_dose_case):
    res = _cli("info", str(unscaled_dose_case))
    assert res.returncode == 0, res.stderr
    line = next(ln for ln in res.stdout.splitlines() if "[implausible-dose]" in ln)
    assert f"maximum {RAW_MAX:,}" in line and "DoseGridScaling" in line and "not shown as Gy" in line
    info = json.loads(_cli("info", "--json", str(unscaled_dose_case)).stdout)
    assert [p["kind"] for p in info["problems"]] == ["implausible-dose"]


@pytest.mark.slow
def test_a_dose_that_is_not_gy_is_neither_shown_nor_used_until_a_scale_is_confirmed(unscaled_dose_case):
    p = lp.open_patient(unscaled_dose_case)
    p.load_all()
    dose = p.reference_frame.doses["dose"]
    assert dose.vmax == RAW_MAX and [q.kind for q in p.problems] == ["implausible-dose"]
    assert p.dose() is None  # no wash, no isodose lines, no DVH
    scene = SceneRenderer(p, ViewerState())
    assert scene.dose() is None and scene.readout((6, 15, 16)).dose_gy is None
    assert patient_dvhs(p) == ([], [])  # no frame shows a dose
    dvhs, warnings = patient_dvhs(lp.open_patient(unscaled_dose_case))  # found only while computing
    assert not dvhs and "not a plausible dose in Gy" in warnings[0]
    dose.set_scale(4e-5)
    assert p.dose() is dose and dose.vmax == pytest.approx(41.94, abs=0.01)
    scene.invalidate_overlays()
    assert scene.readout((6, 15, 16)).dose_gy == pytest.approx(41.94, abs=0.01)
    (d,), _ = patient_dvhs(p)
    assert 30 < d.dvh.stats.max_gy <= 41.95


@pytest.mark.slow
def test_the_window_asks_for_the_scale_and_then_shows_the_dose(qtbot, unscaled_dose_case, monkeypatch):
    from PySide6 import QtWidgets

    from lundprobe_gui.app import make_application
    from lundprobe_gui.ui.loader import load_patient
    from lundprobe_gui.ui.main_window import MainWindow

    make_application()
    win = MainWindow()
    qtbot.addWidget(win)
    p = lp.open_patient(unscaled_dose_case)
    win.set_patient(p)
    load_patient(p)
    win.loader.image_ready.emit(p)
    win.loader.finished.emit(p)
    assert win.scene.dose() is None and not win.display.dose_box.isEnabled()
    asked = []
    monkeypatch.setattr(
        QtWidgets.QInputDialog, "getDouble", staticmethod(lambda *a, **k: asked.append(a) or (4e-5, True))
    )
    win.actions["dose_scale"].trigger()
    assert asked and "1,048,626" in asked[0][2]
    assert win.scene.dose() is p.reference_frame.doses["dose"] and win.display.dose_box.isEnabled()
    shown = win.tri.views[0].image.image
    plain = SceneRenderer(p, ViewerState(cursor=win.state.cursor))
    plain.state.dose.wash = False
    assert not np.array_equal(shown, plain.render(0).rgb)  # the wash is drawn now


@pytest.mark.slow
def test_a_load_larger_than_the_available_ram_is_refused_with_a_problem(demo_patient_path, monkeypatch):
    import lundprobe_gui.core.memory as memory

    p = lp.open_patient(demo_patient_path)
    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 20)
    image = p.image()
    assert p.load_volume(image) is False
    (problem,) = [q for q in p.problems if q.kind == "too-large"]
    assert "of RAM available; not loaded" in problem.message and problem.path == str(image.path)
    assert not p.try_load_mask(p.structure("BODY"))
    assert any(q.kind == "too-large" and q.path.endswith("mask_BODY.nii.gz") for q in p.problems)


def _zeros_file(path, n=1024):
    """A ~1 MB gzip NIfTI declaring n^3 uint8 zeros."""
    img = nib.Nifti1Image(np.zeros((2, 2, 2), np.uint8), np.eye(4))
    img.header.set_data_shape((n, n, n))
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as fh:
        fh.write(comp.compress(img.header.binaryblock + b"\0" * 4))
        block = bytes(1 << 24)
        for _ in range(n**3 // len(block)):
            fh.write(comp.compress(block))
        fh.write(comp.flush())


@pytest.mark.slow
def test_info_stays_under_300_mb_whatever_the_files_declare(tmp_path):
    _zeros_file(tmp_path / "zeros0.nii.gz")
    for k in range(1, 4):
        shutil.copy(tmp_path / "zeros0.nii.gz", tmp_path / f"zeros{k}.nii.gz")
    rng = np.random.default_rng(1)
    nib.save(nib.Nifti1Image(rng.integers(0, 900, (40, 40, 10)).astype(np.int16), np.eye(4)), tmp_path / "t1.nii.gz")
    # VmHWM, not ru_maxrss: getrusage keeps the peak of the forked copy of this (large) test process
    code = (
        "import sys; from lundprobe_gui.cli import main; rc = main(['info', '--quiet', sys.argv[1]]); "
        "print('RSS', next(ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM'))); "
        "sys.exit(rc)"
    )
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=_env())
    assert res.returncode == 0, res.stderr
    rss_mb = int(res.stdout.split("RSS")[-1]) / 1024
    assert rss_mb < 300, (rss_mb, res.stdout[-2000:])
    assert res.stdout.count("[geometry-mismatch]") == 4  # each declared gigabyte was looked at and reported


@pytest.mark.slow
def test_screenshot_base_sct_without_an_sct_says_so(tmp_path, unscaled_dose_case):
    res = _cli("screenshot", str(unscaled_dose_case), str(tmp_path / "x.png"), "--base", "sct")
    assert res.returncode == 2 and "no sCT on the image grid" in res.stderr
    assert not (tmp_path / "x.png").exists()


def _lundprobe_like(root, masks):
    folder = root / "case01" / "MR_StorT2"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    img = sitk.GetImageFromArray(rng.integers(0, 900, (6, 20, 20)).astype(np.int16))
    sitk.WriteImage(img, str(folder / "image.nii.gz"))
    for m in masks:
        mk = sitk.GetImageFromArray(np.pad(np.ones((2, 4, 4), np.uint8), ((2, 2), (8, 8), (8, 8))))
        mk.CopyInformation(img)
        sitk.WriteImage(mk, str(folder / f"mask_{m}.nii.gz"))
    return folder.parent


@pytest.mark.slow
def test_the_prostate_structure_list_applies_only_to_lund_probe_patients(tmp_path):
    brain = lp.open_patient(_lundprobe_like(tmp_path / "brain", ["Brainstem", "Eye_L"]))
    assert brain.layout == "lundprobe" and not [q for q in brain.problems if q.kind == "missing"]
    prostate = lp.open_patient(_lundprobe_like(tmp_path / "prostate", ["CTVT_427", "Rectum"]))
    missing = sorted(q.path.rsplit("mask_", 1)[1] for q in prostate.problems if q.kind == "missing")
    assert "PenileBulb.nii.gz" in missing and "CTVT_427.nii.gz" not in missing


@pytest.mark.slow
def test_every_command_takes_quiet_and_quiet_silences_warnings(unscaled_dose_case, tmp_path, capsys):
    import argparse

    def leaves(parser):
        # argparse has no public way to list a parser's actions or subcommands
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001
        if not subs:
            yield parser
        for a in subs:
            for child in a.choices.values():
                yield from leaves(child)

    commands = list(leaves(build_parser()))
    assert len(commands) >= 15
    for parser in commands:
        assert any("--quiet" in a.option_strings for a in parser._actions), parser.prog  # noqa: SLF001 - as above
    for args in (["info"], ["screenshot", str(tmp_path / "s.png")]):
        cmd = [args[0], str(unscaled_dose_case), *args[1:]]
        noisy, quiet = _cli(*cmd), _cli(*cmd, "--quiet")
        assert "plausible dose" in noisy.stderr, cmd
        assert quiet.returncode == 0 and quiet.stderr == "", (cmd, quiet.stderr)
    assert (tmp_path / "s.png").stat().st_size > 0
    noisy, quiet = (
        _cli("dvh", str(unscaled_dose_case), "--workers", "1"),
        _cli("dvh", str(unscaled_dose_case), "--quiet"),
    )
    assert "warning:" in noisy.stderr and "WARNING" in noisy.stderr
    assert "warning:" not in quiet.stderr and "WARNING" not in quiet.stderr
    # the patient gives no DVH: that error itself still shows, saying why
    assert quiet.returncode != 0 and "error:" in quiet.stderr and "not a plausible dose in Gy" in quiet.stderr


@pytest.mark.slow
def test_world_coordinates_say_their_convention(unscaled_dose_case):
    p = lp.open_patient(unscaled_dose_case)
    p.load_all()
    st = ViewerState(cursor=(2, 3, 4))
    read = SceneRenderer(p, st).readout()
    x, y, z = read.world_mm
    assert read.lines()[0].endswith(f"LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm")
    st.coords = "RAS"
    assert SceneRenderer(p, st).readout().lines()[0].endswith(f"RAS ({-x:.1f}, {-y:.1f}, {z:.1f}) mm")
    text = _cli("info", "--coords", "ras", str(unscaled_dose_case)).stdout
    origin = p.geometry.origin
    assert f"origin RAS ({-origin[0]:.2f}, {-origin[1]:.2f}, {origin[2]:.2f}) mm, stored LPS" in text
    info = json.loads(_cli("info", "--json", str(unscaled_dose_case)).stdout)  # JSON is LPS whatever is asked
    assert info["world_coordinates"] == "LPS" and info["frames"]["image"]["origin"] == pytest.approx(origin)


@pytest.mark.slow
def test_a_confirmed_scale_settles_the_dose_problem_in_the_patient_and_the_problems_panel(
    qtbot, unscaled_dose_case, monkeypatch
):
    from PySide6 import QtWidgets

    from lundprobe_gui.app import make_application
    from lundprobe_gui.ui.loader import load_patient
    from lundprobe_gui.ui.main_window import MainWindow

    make_application()
    win = MainWindow()
    qtbot.addWidget(win)
    p = lp.open_patient(unscaled_dose_case)
    win.set_patient(p)
    load_patient(p, sink=win.loader)  # the window's own slots run as the signals are emitted
    assert [q.kind for q in p.problems] == ["implausible-dose"]
    assert win.problems.count() == 1 and win.problems.item(0).text().startswith("[implausible-dose]")
    asked = []
    monkeypatch.setattr(
        QtWidgets.QInputDialog, "getDouble", staticmethod(lambda *a, **k: asked.append(a) or (4e-5, True))
    )
    win.actions["dose_scale"].trigger()
    assert f"Stored maximum {RAW_MAX:,}" in asked[0][2]  # the dose is on the image grid: the file's own maximum
    assert p.problems == [] and win.problems.count() == 0
    assert p.dose().vmax == pytest.approx(RAW_MAX * 4e-5, rel=1e-6)
    with pytest.raises(ValueError, match="positive number"):
        p.confirm_dose_scale(p.dose(), -1.0)
