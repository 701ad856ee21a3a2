"""The lint and type gates, run by the test command so CI runs them (CONTRIBUTING.md).

ruff formats the whole tree and lints the packages below and the tests; mypy type-checks the Qt-free
packages. ``ui/`` is not yet lint- and type-clean, so it is not in these lists: add a package here once
it is clean, and never take one out.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QT_FREE = [
    "core",
    "io",
    "render",
    "edit",
    "metrics",
    "study",
    "demo",
    "review",
    "session",
    "batch",
    "corrector",
    "report",
]
LINTED = [*QT_FREE, "cli", "bench"]

pytestmark = pytest.mark.slow


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


def test_the_tree_is_formatted(tmp_path):
    r = _run("ruff", "format", "--check", "--cache-dir", str(tmp_path), ".")
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_clean_packages_pass_ruff(tmp_path):
    r = _run("ruff", "check", "--cache-dir", str(tmp_path), *(f"lundprobe_gui/{p}" for p in LINTED), "tests")
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_qt_free_packages_pass_mypy(tmp_path):
    r = _run("mypy", "--cache-dir", str(tmp_path), *(f"lundprobe_gui/{p}" for p in QT_FREE))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success: no issues found" in r.stdout
