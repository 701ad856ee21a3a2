"""Print the figures of the last reliability run (``last-run.json``) as the Markdown table of README.md.

Usage: ``python tests/reliability/report.py`` (after ``python -m pytest tests/reliability``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# test id -> (README label, figures to show)
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


def main() -> int:
    data = json.loads((HERE / "last-run.json").read_text())
    tests = data["tests"]
    print(
        f"Last run: {data['date']} on {data['machine']['cpus']} CPUs, Python {data['machine']['python']}; "
        f"reliability tests took {data['reliability_seconds_this_run']} s; totals {data['totals']}.\n"
    )
    print("| test | seconds | figures |\n|---|---|---|")
    for key, label, names in ROWS:
        t = tests.get(key)
        if t is None:
            print(f"| {label} | - | not run |")
            continue
        figs = "; ".join(f"{n} {json.dumps(t['figures'][n])}" for n in names if n in t["figures"])
        print(f"| {label} ({t['outcome']}) | {t['seconds']} | {figs} |")
    failed = [k for k, t in tests.items() if t["outcome"] != "passed"]
    print(f"\n{len(tests)} tests, {len(failed)} not passed" + (f": {failed}" if failed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
