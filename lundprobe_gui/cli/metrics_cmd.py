"""``lundprobe-gui metrics PATH``: the comparison set of a patient or of every patient of a dataset root."""

from __future__ import annotations

import argparse

from ..metrics.table import format_table
from .batch_cli import add_batch_arguments, add_edits_argument, run_batch_command

TEXT_COLUMNS = (
    "patient",
    "structure",
    "reference",
    "test",
    "dice",
    "hd95_mm",
    "msd_mm",
    "surface_dice",
    "apl_mm",
    "volume_test_cc",
)


# -- the metrics command ---------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser(
        "metrics",
        help="Dice, HD95, MSD, surface Dice, APL... of the comparison set",
        description="Compare contours of a patient, or of every patient of a dataset root: DL against each "
        "observer per step, each observer's step 1 against step 2, observers pairwise within a "
        "step, clinical against DL and each observer, and each fold against the ensemble. "
        "See docs/metrics.md for the definitions.",
    )
    add_batch_arguments(p)
    add_edits_argument(p)
    p.add_argument("--tolerance", type=float, default=2.0, metavar="MM", help="surface Dice tolerance in mm (2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute and print the rows; 1 when a patient failed."""
    from ..metrics.analyses import MetricsAnalysis
    from . import CliError

    if not args.tolerance >= 0:  # also rejects nan
        raise CliError("--tolerance must be a non-negative number of mm")
    return run_batch_command(
        args,
        MetricsAnalysis(args.tolerance),
        "nothing to compare",
        lambda rows: format_table(rows, TEXT_COLUMNS) + "\n(all columns: --json or --csv FILE)",
    )
