"""``lundprobe-gui export PATIENT --format rtstruct|seg --out DIR``: structures as a new DICOM object."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser(
        "export",
        help="export structures as a new DICOM RT Structure Set or DICOM-SEG",
        description="Writes a new RT Structure Set (contoured from the masks, holes as separate contours) or "
        "binary DICOM-SEG into --out, referencing the patient's image series. For a NIfTI patient the "
        "reference image is written as a DICOM series too. Saved edits in the patient's output folder "
        "(--edits, default lundprobe_edits/ beside the dataset) are included under names like "
        "'CTVT_427 corrected v003'. Input files are never written.",
    )
    p.add_argument("patient", type=Path)
    p.add_argument("--format", choices=("rtstruct", "seg"), required=True)
    p.add_argument("--out", type=Path, required=True, help="output folder (outside the patient's data)")
    p.add_argument(
        "--structures",
        nargs="+",
        metavar="NAME[:SOURCE]",
        help="only these structures (default: every structure of the reference frame)",
    )
    p.add_argument("--edits", type=Path, help="output folder of saved edits to include (default lundprobe_edits/)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export and print the written files."""
    from ..io.dicom.export import ExportError, export_patient
    from ..io.open import NoImageError, open_patient
    from . import CliError

    try:
        patient = open_patient(args.patient, edits=args.edits if args.edits is not None else True)
    except NoImageError as e:
        raise CliError(str(e)) from e
    try:
        result = export_patient(patient, args.format, args.out, args.structures)
    except (ExportError, OSError) as e:
        raise CliError(str(e)) from e
    for note in result.notes:
        print(f"note: {note}")
    print(f"{len(result.structures)} structure(s): {', '.join(result.structures)}")
    print(result.main)
    return 0
