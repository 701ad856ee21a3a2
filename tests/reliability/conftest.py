"""Fixtures of the reliability suite, and the figures it reports.

Each test puts its figures (cases fuzzed, kills, losses, RSS...) into the ``figures`` fixture.
At the end of a run that included reliability tests, they are written with each test's
duration to ``tests/reliability/last-run.json`` (entries of tests that did not run this time are
kept from the previous file, with their own date), so the numbers in ``README.md`` can be traced.
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

HERE = Path(__file__).resolve().parent
LAST_RUN = HERE / "last-run.json"

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
    """A dict for the running test's figures (reported in last-run.json under the test's id)."""
    return _FIGURES.setdefault(_key(request.node.nodeid) or request.node.nodeid, {})


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """A minimal LUND-PROBE dataset (one 8x8x4 patient) that tests copy and must not modify."""
    root = tmp_path_factory.mktemp("tiny")
    tiny_patient(root)
    return root / "ds"


_COLLECTED: set[str] = set()


def pytest_collection_modifyitems(config, items):  # noqa: ARG001
    # /proc, fork, tmpfs mounts and SIGALRM: the suite measures a Linux process
    if not sys.platform.startswith("linux"):
        skip = pytest.mark.skip(reason="the reliability suite measures Linux processes (/proc, fork, SIGALRM)")
        for item in items:
            if _key(item.nodeid):
                item.add_marker(skip)


def pytest_itemcollected(item):
    key = _key(item.nodeid)
    if key:
        _COLLECTED.add(key)


def pytest_runtest_logreport(report):
    name = _key(report.nodeid)
    if name is None:
        return
    _DURATIONS[name] = _DURATIONS.get(name, 0.0) + report.duration
    if report.when == "call" or report.outcome != "passed":
        _OUTCOMES[name] = report.outcome if report.when == "call" else f"{report.outcome} in {report.when}"


def pytest_sessionfinish(session, exitstatus):  # noqa: ARG001
    if not _DURATIONS:
        return
    try:
        old = json.loads(LAST_RUN.read_text())
    except (OSError, ValueError):
        old = {}
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    tests = old.get("tests", {}) if isinstance(old.get("tests"), dict) else {}
    # earlier entries are kept for tests that did not run this time, dropped for tests that no longer exist
    files = {k.split("::")[0] for k in _COLLECTED}
    tests = {k: v for k, v in tests.items() if "::" in k and (k in _COLLECTED or k.split("::")[0] not in files)}
    for name, seconds in _DURATIONS.items():
        tests[name] = {
            "date": now,
            "outcome": _OUTCOMES.get(name, "unknown"),
            "seconds": round(seconds, 2),
            "figures": _FIGURES.get(name, {}),
        }
    out = {
        "date": now,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
        "reliability_seconds_this_run": round(sum(_DURATIONS.values()), 1),
        "totals": _totals(tests),
        "tests": dict(sorted(tests.items())),
    }
    try:
        LAST_RUN.write_text(json.dumps(out, indent=2) + "\n")
    except OSError:
        pass  # a read-only checkout: the figures are only lost, not the run


def _totals(tests: dict) -> dict:
    """Suite-wide figures summed over the tests' own figures."""
    tot = {"cases_fuzzed": 0, "kills": 0, "losses": 0}
    for t in tests.values():
        f = t.get("figures", {})
        tot["cases_fuzzed"] += int(f.get("cases_fuzzed", 0))
        tot["kills"] += int(f.get("kills", 0))
        tot["losses"] += int(f.get("losses", 0))
    return tot
