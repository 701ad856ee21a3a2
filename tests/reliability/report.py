"""The figures of README.md, from a run of the reliability suite made on request.

Usage::

    python tests/reliability/report.py run [--keep FILE] [-- PYTEST ARGS]
    python tests/reliability/report.py show FILE

``run`` runs ``python -m pytest tests/reliability`` with ``LUNDPROBE_RELIABILITY_REPORT`` set to a
temporary file (or ``--keep FILE``), then prints the tables; ``show`` prints them for a file such a
run wrote. An ordinary test run writes no figures anywhere, so running the tests never changes a
tracked file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
REPORT_ENV = "LUNDPROBE_RELIABILITY_REPORT"

# test id (parameters left out) -> (README label, figures to show)
ROWS = [
    (
        "test_fuzz_input.py::test_fuzzed_nifti_files_give_a_problem_or_a_clean_error",
        "fuzzed NIfTI files",
        ["cases_fuzzed", "outcomes", "traced_peak_per_case_max_MB", "rss_peak_growth_MB", "slowest_case_s"],
    ),
    (
        "test_fuzz_input.py::test_a_small_file_that_inflates_to_gigabytes_is_not_inflated_to_the_end",
        "16 GB gzip bomb",
        ["file_MB", "inflates_to_GB", "seconds", "traced_peak_MB"],
    ),
    (
        "test_fuzz_input.py::test_a_header_that_lies_within_what_a_bomb_could_hold_allocates_nothing[RGB24]",
        "200 MB declared, 48 MB there (RGB24)",
        ["file_kB", "rss_growth_MB", "traced_peak_MB"],
    ),
    (
        "test_fuzz_input.py::test_a_header_that_lies_within_what_a_bomb_could_hold_allocates_nothing[uint8]",
        "67 MB declared, 48 MB there (uint8)",
        ["file_kB", "rss_growth_MB", "traced_peak_MB"],
    ),
    (
        "test_geometry_traps.py::test_saved_masks_match_random_references_bit_for_bit",
        "saved geometry, random grids",
        ["geometries_saved", "writers"],
    ),
    (
        "test_crash_safety.py::test_sigkill_at_every_step_of_saving_and_autosave",
        "SIGKILL at every write step",
        ["kills", "losses", "kill_points", "leftover_part_files"],
    ),
    (
        "test_crash_safety.py::test_sigkill_at_random_moments_while_editing",
        "SIGKILL at random while editing",
        ["kills", "losses", "killed_inside", "seed"],
    ),
    (
        "test_crash_safety.py::test_sigkill_during_a_study_session_loses_no_rating",
        "SIGKILL during a study",
        ["kills", "kills_by_kind", "losses", "acknowledged_actions", "stale_locks_recovered", "seed"],
    ),
    (
        "test_abuse.py::test_any_name_is_refused_or_stays_inside_the_output_folder",
        "generated names",
        ["names_generated", "names_accepted"],
    ),
    (
        "test_load.py::test_a_long_editing_session_does_not_leak",
        "load session",
        [
            "counts",
            "rss_start_MB",
            "rss_after_10_switches_MB",
            "rss_end_MB",
            "rss_peak_MB",
            "rss_median_switches_6_15_MB",
            "rss_median_last_10_switches_MB",
            "growth_of_medians_pct",
            "leaked_objects",
        ],
    ),
]


def attack_table(tests: dict) -> list[tuple[str, int, int]]:
    """(class, attacks, passed) over the tests that named an attack class."""
    total: Counter[str] = Counter()
    passed: Counter[str] = Counter()
    for t in tests.values():
        cls = t.get("figures", {}).get("attack_class")
        if cls:
            total[cls] += 1
            passed[cls] += t["outcome"] == "passed"
    return [(c, total[c], passed[c]) for c in sorted(total)]


def show(path: Path) -> int:
    """Print the tables of a report file."""
    data = json.loads(Path(path).read_text())
    tests = data["tests"]
    failed = [k for k, t in tests.items() if t["outcome"] != "passed"]
    print(
        f"Run of {data['date']} on {data['machine']['cpus']} CPUs, Python {data['machine']['python']}: "
        f"{len(tests)} reliability tests, {len(failed)} not passed, {data['reliability_seconds_this_run']} s; "
        f"totals {data['totals']}.\n"
    )
    print("| attack class | attacks | passed |\n|---|---|---|")
    rows = attack_table(tests)
    for cls, n, ok in rows:
        print(f"| {cls} | {n} | {ok} |")
    print(f"| **all** | **{sum(r[1] for r in rows)}** | **{sum(r[2] for r in rows)}** |\n")
    print("| test | seconds | figures |\n|---|---|---|")
    for key, label, names in ROWS:
        t = tests.get(key)
        if t is None:
            print(f"| {label} | - | not run |")
            continue
        figs = "; ".join(f"{n} {json.dumps(t['figures'][n])}" for n in names if n in t["figures"])
        print(f"| {label} ({t['outcome']}) | {t['seconds']} | {figs} |")
    if failed:
        print(f"\nnot passed: {failed}")
    return 0


def run(keep: Path | None, pytest_args: list[str]) -> int:
    """Run the suite with the report switched on, then :func:`show` it."""
    with tempfile.TemporaryDirectory() as d:
        target = Path(keep) if keep else Path(d) / "reliability-report.json"
        env = dict(os.environ, **{REPORT_ENV: str(target.resolve())})
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE), *pytest_args]
        code = subprocess.call(cmd, cwd=REPO, env=env)
        if not target.exists():
            print("the run wrote no report", file=sys.stderr)
            return code or 1
        show(target)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the suite and print the figures")
    r.add_argument("--keep", type=Path, help="also keep the report JSON in this file")
    r.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    s = sub.add_parser("show", help="print the figures of a report file")
    s.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "show":
        return show(args.file)
    return run(args.keep, args.pytest_args)


if __name__ == "__main__":
    sys.exit(main())
