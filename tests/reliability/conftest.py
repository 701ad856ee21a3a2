"""Fixtures of the reliability suite, and the figures it reports.

Each test puts its figures (cases fuzzed, kills, losses, RSS...) into the ``figures`` fixture; an
attack test also names its class (``figures["attack_class"] = "inputs"``, through the ``attack``
fixture...). A run writes them, with each test's outcome and duration, only on request: to the file
named by ``LUNDPROBE_RELIABILITY_REPORT``
(``python tests/reliability/report.py`` sets it, runs the suite and prints the README's tables).
An ordinary ``pytest`` run writes nothing into the checkout.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from pathlib import Path

import pytest

from .helpers import tiny_patient

REPORT_ENV = "LUNDPROBE_RELIABILITY_REPORT"

_FIGURES: dict[str, dict] = {}
_DURATIONS: dict[str, float] = {}
_OUTCOMES: dict[str, str] = {}


def _key(nodeid: str) -> str | None:
    """``test_file.py::test_name[param]`` for a reliability test, else None."""
    nodeid = nodeid.replace(os.sep, "/")
    marker = "tests/reliability/"
    return nodeid.split(marker, 1)[1] if marker in nodeid else None


@pytest.fixture()
def figures(request) -> dict:
    """A dict for the running test's figures (in the report, under the test's id)."""
    return _FIGURES.setdefault(_key(request.node.nodeid) or request.node.nodeid, {})


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """A minimal LUND-PROBE dataset (one 8x8x4 patient) that tests copy and must not modify."""
    root = tmp_path_factory.mktemp("tiny")
    tiny_patient(root)
    return root / "ds"


@pytest.fixture()
def ds(tmp_path) -> Path:
    """Two tiny LUND-PROBE patients (each with a published step1_obsB edit) in ``tmp_path/ds``, to attack."""
    for i in range(2):
        tiny_patient(tmp_path, patient_id=f"LUNDPROBE_{433 + i:04d}")
    return tmp_path / "ds"


@pytest.fixture()
def attack(figures):
    """``attack("inputs")`` names the running test's attack class (counted by report.py)."""

    def name(cls: str) -> None:
        figures["attack_class"] = cls

    return name


def pytest_collection_modifyitems(config, items):
    # /proc, fork, tmpfs mounts and SIGALRM: the suite measures a Linux process
    if not sys.platform.startswith("linux"):
        skip = pytest.mark.skip(reason="the reliability suite measures Linux processes (/proc, fork, SIGALRM)")
        for item in items:
            if _key(item.nodeid):
                item.add_marker(skip)


def pytest_runtest_logreport(report):
    name = _key(report.nodeid)
    if name is None:
        return
    _DURATIONS[name] = _DURATIONS.get(name, 0.0) + report.duration
    if report.when == "call" or report.outcome != "passed":
        _OUTCOMES[name] = report.outcome if report.when == "call" else f"{report.outcome} in {report.when}"


def pytest_sessionfinish(session, exitstatus):
    target = os.environ.get(REPORT_ENV)
    if not _DURATIONS or not target:
        return
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    tests = {
        name: {
            "outcome": _OUTCOMES.get(name, "unknown"),
            "seconds": round(seconds, 2),
            "figures": _FIGURES.get(name, {}),
        }
        for name, seconds in _DURATIONS.items()
    }
    out = {
        "date": now,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
        "reliability_seconds_this_run": round(sum(_DURATIONS.values()), 1),
        "totals": _totals(tests),
        "tests": dict(sorted(tests.items())),
    }
    Path(target).write_text(json.dumps(out, indent=2) + "\n")


def _totals(tests: dict) -> dict:
    """Suite-wide figures summed over the tests' own figures."""
    tot = {"cases_fuzzed": 0, "kills": 0, "losses": 0}
    for t in tests.values():
        f = t.get("figures", {})
        tot["cases_fuzzed"] += int(f.get("cases_fuzzed", 0))
        tot["kills"] += int(f.get("kills", 0))
        tot["losses"] += int(f.get("losses", 0))
    return tot
