"""The lint and type gates, run by the test command so CI runs them (CONTRIBUTING.md).

ruff formats the whole tree and lints the whole ``lundprobe_gui`` package and the tests; mypy
type-checks the whole package. Both are given the package, never a list of its modules, so a new
module is gated from its first commit, and the tests check that no configured exclusion keeps a
module of the package out of either tool.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lundprobe_gui"

pytestmark = pytest.mark.slow


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


def test_the_tree_is_formatted(tmp_path):
    r = _run("ruff", "format", "--check", "--cache-dir", str(tmp_path), ".")
    assert r.returncode == 0, r.stdout + r.stderr


def _modules() -> set[Path]:
    return {p.resolve() for p in PACKAGE.rglob("*.py")}


def test_the_package_and_the_tests_pass_ruff(tmp_path):
    r = _run("ruff", "check", "--cache-dir", str(tmp_path), "lundprobe_gui", "tests")
    assert r.returncode == 0, r.stdout + r.stderr
    listed = _run("ruff", "check", "--show-files", "--cache-dir", str(tmp_path), "lundprobe_gui")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    checked = {Path(line).resolve() for line in listed.stdout.splitlines() if line.strip()}
    assert checked == _modules()  # no module left out by an exclude in the configuration


def test_the_package_passes_mypy(tmp_path):
    r = _run("mypy", "--cache-dir", str(tmp_path), "lundprobe_gui")
    assert r.returncode == 0, r.stdout + r.stderr
    # every module of the package was checked: none left out by an exclude in the configuration
    assert f"Success: no issues found in {len(_modules())} source files" in r.stdout
