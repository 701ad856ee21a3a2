"""Build the desktop bundle and run the frozen app without Python (packaging/ci-check.sh).

Slow (about 3 minutes on 2 cores with a warm pip cache, plus the first venv), so it runs only
when asked: LUNDPROBE_PACKAGING=1 python3 -m pytest tests/bundle
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("LUNDPROBE_PACKAGING") != "1",
        reason="builds the PyInstaller bundle (minutes): set LUNDPROBE_PACKAGING=1",
    ),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the CI bundle check is Linux-only"),
]


def test_frozen_bundle_works_without_python(tmp_path):
    shot = tmp_path / "screenshot.png"
    env = {**os.environ, "SCREENSHOT_OUT": str(shot)}
    # The interpreter running the tests builds the bundle, so the venv matches what CI installs.
    env.setdefault("PYTHON", sys.executable)
    r = subprocess.run(
        ["bash", str(ROOT / "packaging" / "ci-check.sh")], env=env, capture_output=True, text=True, timeout=1200
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "PASS" in r.stdout
    assert shot.stat().st_size > 60_000
