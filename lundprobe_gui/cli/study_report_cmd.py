"""``lundprobe-gui study report`` and ``study merge``: analyse a study, merge the exports of several sites."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..metrics.study_analyses import DEFAULT_THRESHOLD
from ..report.common import DEFAULT_BOOTSTRAP, DEFAULT_SEED
from .batch_cli import add_run_arguments

logger = logging.getLogger(__name__)


def register_report(ss: argparse._SubParsersAction) -> None:
    """Add ``study report``."""
    q = ss.add_parser(
        "report",
        help="the study's analysis: tidy CSVs, stats.json, figures and report.html in one folder",
        description="Analyse a study folder, its export or a merged export (or, with --published, the dataset's "
        "own published edits): the histogram of edits over the DL uncertainty with bootstrap confidence "
        "intervals, the low-uncertainty ratio, DL-versus-edit metrics, ratings and active time step by "
        "step, kappa, STAPLE, inter-observer variability and the flow of cases. Every patient goes through "
        "the batch framework (--scheduler, --cache). See docs/study-report.md.",
    )
    q.add_argument("study_dir", type=Path, nargs="?", metavar="STUDY_DIR", help="a study folder or a study export")
    q.add_argument("--published", action="store_true", help="analyse the dataset's published edits (needs --dataset)")
    q.add_argument("--dataset", type=Path, metavar="ROOT", help="the dataset root (default: the one the study records)")
    q.add_argument("--out", type=Path, required=True, metavar="DIR", help="the report folder (created)")
    q.add_argument(
        "--observers",
        nargs="+",
        metavar="ID",
        help="only these observers (study:ID / published:ID when both have the ID; default: the study's observers, "
        "or every published observer with --published)",
    )
    q.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        metavar="U",
        help="low-uncertainty threshold (default %(default)s)",
    )
    q.add_argument(
        "--bootstrap",
        type=int,
        default=DEFAULT_BOOTSTRAP,
        metavar="N",
        help="bootstrap resamples of the confidence intervals (default %(default)s; 0: none)",
    )
    q.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the bootstrap (default %(default)s)")
    add_run_arguments(q)
    q.set_defaults(func=run_report_cmd)


def register_merge(ss: argparse._SubParsersAction) -> None:
    """Add ``study merge``."""
    q = ss.add_parser(
        "merge",
        help="merge the exports of several sites of one sealed study definition",
        description="Merge the exports ('study export') of several sites that ran the same sealed study "
        "definition (checked by its sha256) into OUT: one results.csv, the edits laid out as observerData, "
        "and the definition record. Observer IDs that have results in two exports are refused.",
    )
    q.add_argument("out", type=Path, metavar="OUT")
    q.add_argument("exports", type=Path, nargs="+", metavar="SITE_EXPORT")
    q.set_defaults(func=run_merge_cmd)


def run_report_cmd(args: argparse.Namespace) -> int:
    """Run the report; 1 when a patient failed, 2 for a usage error."""
    from ..batch.cache import ResultCache, check_cache_folder
    from ..batch.cluster import ClusterError
    from ..batch.run import InputError, check_scheduler
    from ..paths import user_cache_dir
    from ..report import ReportOptions, prepare_source, run_report
    from ..study.reading import StudyReadError
    from . import CliError
    from .batch_cli import EXIT_FAILED, BatchProgress, default_scheduler

    if args.published and args.study_dir is not None:
        raise CliError("give STUDY_DIR or --published, not both")
    if args.workers is not None and args.workers < 1:
        raise CliError("--workers must be at least 1")
    try:
        import matplotlib  # noqa: F401 - only to say clearly what is missing before any work
        import statsmodels  # noqa: F401 - the same, for the statistics
    except ImportError as e:
        raise CliError(
            f"study report needs {e.name}, which this installation lacks (the desktop bundle leaves the plotting "
            "and statistics libraries out); run it with the pip-installed app"
        ) from e
    if args.out.exists() and not args.out.is_dir():
        raise CliError(f"--out {args.out}: exists and is not a folder; give a folder for the report")
    try:
        options = ReportOptions(threshold=args.threshold, n_boot=args.bootstrap, seed=args.seed)
        scheduler = check_scheduler(args.scheduler or default_scheduler())
    except (ValueError, InputError) as e:
        raise CliError(str(e)) from e
    if args.workers is not None and scheduler != "processes":
        raise CliError(f"--workers sets the size of a local cluster; it does not apply to --scheduler {scheduler}")
    try:
        source = prepare_source(args.study_dir, args.dataset, args.published, args.observers)
    except StudyReadError as e:
        raise CliError(str(e)) from e
    cache_dir = args.cache if args.cache is not None else user_cache_dir() / "batch"
    try:
        check_cache_folder(cache_dir, [source.dataset_root, *source.paths])
    except ValueError as e:
        raise CliError(f"--cache {e}") from e
    bar = BatchProgress("study report", enabled=not args.quiet)
    try:
        result = run_report(
            source,
            args.out,
            options,
            scheduler=scheduler,
            workers=args.workers,
            cache=ResultCache(cache_dir),
            fresh=args.fresh,
            rehash=args.rehash,
            progress=bar,
        )
    except (ClusterError, StudyReadError, OSError) as e:  # WriteRefused: --out in the dataset
        raise CliError(str(e)) from e
    finally:
        bar.close()
    rows = result.rows
    assert rows is not None  # run_report hands the rows back with the result
    print(
        f"study report: {rows.patients} patient(s): {rows.patients - rows.cached - len(rows.failures)} computed, "
        f"{rows.cached} from the cache ({cache_dir}), {len(rows.failures)} failed",
        file=sys.stderr,
    )
    for w in rows.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for pid, reason in rows.failures:
        print(f"error: {pid}: {reason}", file=sys.stderr)
    print(f"wrote {len(result.files)} files to {result.out_dir} (open {result.out_dir / 'report.html'})")
    return EXIT_FAILED if rows.failures else 0


def run_merge_cmd(args: argparse.Namespace) -> int:
    """Merge site exports."""
    from ..study.merge import merge_exports
    from ..study.reading import StudyReadError
    from . import CliError

    try:
        rep = merge_exports(args.out, args.exports)
    except (StudyReadError, OSError) as e:
        raise CliError(str(e)) from e
    print(
        f"merged {len(args.exports)} exports into {rep.out_dir}: {rep.rows} result rows, {rep.masks} mask(s), "
        f"observers {', '.join(rep.observers)}"
    )
    return 0
