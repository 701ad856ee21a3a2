"""``lundprobe-gui verify OUT_DIR``: re-hash every saved version against its provenance sidecar."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_TAMPERED = 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser(
        "verify",
        help="check saved edits against their provenance (sha256)",
        description="Re-hash (sha256) every version *_vNNN.nii.gz under OUT_DIR and compare it with the "
        "file_sha256 its .json sidecar recorded when it was saved. Also reported: versions without a "
        "sidecar, sidecars without a version, plain copies that are not the newest version or match no "
        "version, and exported files that changed since 'study export' wrote them. Exit status: 0 when "
        "every file is what the app wrote, 1 when something was changed or lost its provenance, 2 for "
        "a usage error.",
    )
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="an output folder (edits, a study or a review)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Verify and print the findings."""
    from ..io.verify import verify_folder
    from . import CliError

    try:
        rep = verify_folder(args.out_dir)
    except OSError as e:
        raise CliError(str(e)) from e
    if args.json:
        print(json.dumps(rep.to_dict(), indent=2))
    else:
        for f in rep.findings:
            print(f"{f.kind}: {f.path}: {f.message}")
        counts = ", ".join(f"{n} {k}" for k, n in sorted(rep.counts().items())) or "nothing wrong"
        print(
            f"checked {rep.versions} version(s) in {rep.series} series, {rep.plain_copies} plain cop"
            f"{'y' if rep.plain_copies == 1 else 'ies'} and {rep.exported} exported file(s) by sha256: {counts}",
            file=sys.stderr,
        )
    return 0 if rep.ok else EXIT_TAMPERED
