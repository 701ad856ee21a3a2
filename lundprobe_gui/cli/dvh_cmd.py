"""``lundprobe-gui dvh PATH``: DVH statistics of every structure, for a patient or a dataset root."""

from __future__ import annotations

import argparse

from ..metrics.table import format_table
from .batch_cli import add_batch_arguments, add_edits_argument, run_batch_command

TEXT_COLUMNS = (
    "patient",
    "frame",
    "structure",
    "source",
    "volume_cc",
    "mean_gy",
    "min_gy",
    "max_gy",
    "d98_gy",
    "d95_gy",
    "d50_gy",
    "d2_gy",
    "v95_percent",
    "v100_percent",
    "dose",
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser(
        "dvh",
        help="DVH statistics (Dmean, D98, D95, V95, V100...) of every structure",
        description="For every frame showing a dose (LUND-PROBE: MR_StorT2 and sCT; a dose on another grid is "
        "resampled once onto the frame's), the DVH of every structure of that frame against that dose: volume, "
        "mean, min and max dose, D98, D95, D50 and D2 in Gy, and V95 and V100 in % of the structure, and the dose "
        "used. See docs/metrics.md.",
    )
    add_batch_arguments(p)
    add_edits_argument(p)
    p.add_argument(
        "--prescription",
        type=float,
        metavar="GY",
        help="prescription dose for V95 and V100 (default: the patient's own: 42.7 Gy for LUND-PROBE, the RTPLAN's "
        "target prescription for DICOM, else the dose maximum)",
    )
    p.add_argument(
        "--frame",
        action="append",
        metavar="NAME",
        help="only this frame (MRI or sCT; repeat for several; default every frame with a dose)",
    )
    p.add_argument(
        "--source",
        action="append",
        metavar="SOURCE",
        help="only structures from this source (clinical, nnUNet, step1_obsB...; repeatable)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute and print the rows; 1 when a patient failed."""
    from ..metrics.analyses import DvhAnalysis
    from . import CliError

    if args.prescription is not None and not args.prescription > 0:  # also rejects nan
        raise CliError("--prescription must be a positive dose in Gy")
    analysis = DvhAnalysis(
        args.prescription,
        tuple(args.frame) if args.frame else None,
        tuple(args.source) if args.source else None,
    )
    return run_batch_command(args, analysis, "no DVH", lambda rows: format_table(rows, TEXT_COLUMNS, digits=4))
