"""``lundprobe-gui review init|status|export``: set up and follow an AI-segmentation review."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ..core.names import InvalidName
from ..review import ReviewError, init_review, load_protocol, load_state, write_results
from ..review.protocol import IDLE_SECONDS
from ..review.results import corrected_files

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser(
        "review",
        help="AI-segmentation review: rate, correct, comment (init/status/export)",
        description="Set up a review of AI segmentations for one reviewer, show its progress, "
        "and export review-results.csv.",
    )
    rsub = p.add_subparsers(dest="review_command", metavar="ACTION", required=True)
    init = rsub.add_parser("init", help="create a review folder for a dataset and a reviewer")
    init.add_argument("review_dir", type=Path, metavar="REVIEW_DIR")
    init.add_argument(
        "--dataset", type=Path, required=True, metavar="ROOT", help="dataset root (or one patient folder)"
    )
    init.add_argument("--reviewer", required=True, metavar="ID", help="reviewer ID: letters, digits, '_' and '-'")
    init.add_argument("--cases", nargs="+", metavar="CASE", help="case IDs to review, in this order (default: all)")
    init.add_argument(
        "--segmentation",
        metavar="NAME",
        help="the AI segmentation: a structure source or a file stem (default: the first label "
        "map, else nnUNet, else clinical structures)",
    )
    init.add_argument(
        "--idle-timeout",
        type=float,
        default=IDLE_SECONDS,
        metavar="SECONDS",
        help=f"gaps between two events up to this long count in full as active time; a longer one counts "
        f"a short tail (default {IDLE_SECONDS:g})",
    )
    init.set_defaults(func=run_init)
    status = rsub.add_parser("status", help="show the progress of a review")
    status.add_argument("review_dir", type=Path, metavar="REVIEW_DIR")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(func=run_status)
    export = rsub.add_parser("export", help="write review-results.csv")
    export.add_argument("review_dir", type=Path, metavar="REVIEW_DIR")
    export.add_argument("--out", type=Path, help="output file (default <review_dir>/review-results.csv)")
    export.add_argument("--all", action="store_true", help="also write rows of unfinished cases")
    export.add_argument(
        "--format",
        choices=("review", "qa-results"),
        default="review",
        help="review: review-results.csv; qa-results: the column scheme of the published collections' "
        "qa-results.csv (default <review_dir>/qa-results.csv)",
    )
    export.add_argument("--collection", help="the Collection column of qa-results (default: the dataset folder name)")
    export.set_defaults(func=run_export)


def run_init(args: argparse.Namespace) -> int:
    """Create the review folder."""
    from . import CliError

    try:
        proto = init_review(
            args.review_dir, args.dataset, args.reviewer, args.cases, args.segmentation, args.idle_timeout
        )
    except (InvalidName, ReviewError) as e:
        raise CliError(str(e)) from e
    n_seg = sum(len(c.segments) for c in proto.cases)
    print(f"Review for {proto.reviewer} in {args.review_dir}: {len(proto.cases)} case(s), {n_seg} segment(s) to rate")
    return 0


def _load(review_dir: Path):
    from . import CliError

    try:
        proto = load_protocol(review_dir)
        return proto, load_state(review_dir, proto)
    except ReviewError as e:
        raise CliError(str(e)) from e


def run_status(args: argparse.Namespace) -> int:
    """Print the progress per case."""
    proto, state = _load(args.review_dir)
    rows = []
    for case in proto.cases:
        st = state.cases[case.case_id]
        rows.append(
            {
                "case_id": case.case_id,
                "status": st.status,
                "segments": len(case.segments),
                "rated": sum(1 for s in case.segments if s.name in st.ratings),
                "corrected": list(st.corrected),
                "corrected_files": corrected_files(case, st),
                "active_seconds": round(st.active_seconds, 1),
            }
        )
    done = sum(r["status"] == "done" for r in rows)
    if args.json:
        print(
            json.dumps(
                {
                    "reviewer": proto.reviewer,
                    "dataset": proto.dataset,
                    "cases": rows,
                    "done": done,
                    "current": state.current,
                },
                indent=2,
            )
        )
        return 0
    print(f"Review by {proto.reviewer} of {proto.dataset}: {done} of {len(rows)} case(s) done")
    for r in rows:
        print(
            f"  {r['case_id']:<20} {r['status']:<12} rated {r['rated']}/{r['segments']}  "
            f"corrected {len(r['corrected'])}  {r['active_seconds']:.1f} s"
        )
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Write the results file."""
    from . import CliError

    proto, state = _load(args.review_dir)
    try:
        if args.format == "qa-results":
            from ..review.results import write_qa_results

            out = write_qa_results(args.review_dir, proto, state, args.out, args.all, args.collection)
        else:
            out = write_results(args.review_dir, proto, state, args.out, include_unfinished=args.all)
    except OSError as e:
        raise CliError(f"cannot write the results: {e}") from e
    print(out)
    return 0
