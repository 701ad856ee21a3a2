"""Fixtures of the DICOM tests: the real dicompyler-core case completed to a CT series, and helpers."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from . import rtcase


@pytest.fixture(scope="session")
def rt_case(tmp_path_factory) -> Path:
    """The real RTSTRUCT, RTDOSE and RTPLAN, the CT series completed around the real slice (read-only by convention)."""
    try:
        src = rtcase.fetch()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        pytest.fail(f"the real DICOM-RT test case is not available: {e}")
    return rtcase.build_case(tmp_path_factory.mktemp("rtcase") / "case", src)


def dciodvfy_errors(path: Path) -> list[str]:
    """The error lines dciodvfy reports for one file (dicom3tools; CI installs it)."""
    exe = shutil.which("dciodvfy")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("dciodvfy (Debian package dicom3tools) is not installed")
        pytest.skip("dciodvfy (dicom3tools) is not installed")
    out = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=120)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]


def with_series(dest: Path, series_dir: Path, *objects: Path) -> Path:
    """A folder holding links to a series' slices plus the given objects (an export opened with its images)."""
    dest.mkdir(parents=True)
    for f in series_dir.glob("ct.*.dcm"):
        (dest / f.name).symlink_to(f)
    for o in objects:
        shutil.copyfile(o, dest / o.name)
    return dest
