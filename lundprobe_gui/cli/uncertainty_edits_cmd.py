"""``lundprobe-gui uncertainty-edits PATH``: observers' edits of the DL masks binned by DL uncertainty."""

from __future__ import annotations

import argparse

from ..metrics.table import format_table
from .batch_cli import add_batch_arguments, run_batch_command

POOL_CHOICES = ("none", "observers", "patients", "all")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser(
        "uncertainty-edits",
        help="edited voxels per DL-uncertainty bin, step 1 against step 2",
        description="For every observer mask step<k>_<observer> of a structure with a DL mask and an uncertainty "
        "map: the voxels edited relative to the DL mask (added + removed), binned by the DL "
        "uncertainty (bins of 0.05 over 0-0.5), with the number of voxels in each bin and the "
        "fraction edited. The text output shows the steps side by side. See docs/metrics.md.",
    )
    add_batch_arguments(p)
    p.add_argument(
        "--pool",
        choices=POOL_CHOICES,
        default="none",
        help="sum the counts over observers, patients or both (default: one histogram per patient, "
        "structure, observer and step)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute and print the rows; 1 when a patient failed."""
    from ..metrics.analyses import EditsAnalysis
    from ..metrics.edit_rows import pool_edit_rows, side_by_side

    post = None
    if args.pool != "none":
        over_patients, over_observers = args.pool in ("patients", "all"), args.pool in ("observers", "all")
        post = lambda rows: pool_edit_rows(rows, over_patients=over_patients, over_observers=over_observers)  # noqa: E731 - None when not pooling

    def text(rows: list[dict]) -> str:
        joined, steps = side_by_side(rows)
        cols = ["patient", "structure", "observer", "bin_low", "bin_high"]
        for k in steps:
            cols += [f"step{k}_edited", f"step{k}_total", f"step{k}_fraction"]
        return format_table(joined, cols, digits=3)

    return run_batch_command(args, EditsAnalysis(), "no uncertainty-versus-edits histogram", text, post)
