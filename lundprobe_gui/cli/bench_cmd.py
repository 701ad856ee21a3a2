"""``lundprobe-gui bench``: measure speed and memory on the full-size synthetic extended patient."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser(
        "bench",
        help="measure speed and memory on the full-size synthetic patient",
        description="Generates the full-size extended synthetic patient once (cached), then reports "
        "each figure as median, min and max over --repeat runs.",
    )
    p.add_argument("--json", action="store_true", help="print JSON keyed by figure name")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument(
        "--only",
        nargs="*",
        help="groups to run: loading viewer editing metrics study dicom grow correction batch study_report",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run and print."""
    from ..bench import run_bench
    from ..bench.data import bench_patient
    from . import CliError

    if getattr(sys, "frozen", False):
        raise CliError("bench runs its probes with a Python interpreter; use the pip-installed app, not the bundle")
    if args.repeat < 1:
        raise CliError("--repeat must be at least 1")

    def say(s: str) -> None:
        if not args.quiet:
            print(s, file=sys.stderr, flush=True)

    patient = bench_patient(say)
    figs = run_bench(patient, args.repeat, args.only, say)
    if args.json:
        print(json.dumps(figs, indent=2))
        return 0
    print(f"{'figure':<40}{'median':>12}{'min':>12}{'max':>12}  unit   (n={args.repeat}, {patient})")
    for k, v in figs.items():
        print(f"{k:<40}{v['median']:>12.4g}{v['min']:>12.4g}{v['max']:>12.4g}  {v['unit']}")
    return 0
