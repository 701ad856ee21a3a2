"""``lundprobe-gui demo OUT``: write synthetic LUND-PROBE patients."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..demo import DemoOptions, generate


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser(
        "demo",
        help="generate synthetic LUND-PROBE patients",
        description="Write synthetic patients with the LUND-PROBE layout, grids and dtypes. Deterministic from --seed.",
    )
    p.add_argument("out", type=Path, help="dataset root to create")
    p.add_argument("--patients", type=int, default=1)
    p.add_argument("--part", choices=("base", "extended"), default="extended")
    p.add_argument(
        "--size",
        choices=("small", "full"),
        default="small",
        help="full: MRI 1024x682x88 at 0.4688x0.4688x2.5 mm; small: same field of view, coarse grid",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate and print the patient folders."""
    from . import CliError, warn

    if args.patients < 1:
        raise CliError("--patients must be at least 1")
    t0 = time.perf_counter()
    quiet = args.quiet or not sys.stderr.isatty()
    try:
        paths = generate(
            args.out,
            DemoOptions(args.patients, args.part, args.size, args.seed),
            None if quiet else (lambda s: print(s, file=sys.stderr)),
        )
    except OSError as e:  # WriteRefused: OUT is a dataset or lies in a patient folder
        raise CliError(str(e)) from e
    for p in paths:
        print(p)
    warn(f"wrote {len(paths)} patient(s) in {time.perf_counter() - t0:.1f} s")
    return 0
