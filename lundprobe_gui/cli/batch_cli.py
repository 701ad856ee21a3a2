"""What the batch commands (``metrics``, ``dvh``, ``uncertainty-edits``) share on the command line.

The options (PATH, output, scheduler, cache), their checks, the progress bar and the loop that
streams each patient's rows to the outputs as :func:`~lundprobe_gui.batch.run.run_batch` hands
them out. Nothing here imports dask or tqdm until a command runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from ..batch.run import BatchStatus
    from ..metrics.analyses import Analysis

EXIT_FAILED = 1
"""Exit code of a run in which at least one patient failed."""


def add_batch_arguments(p: argparse.ArgumentParser) -> None:
    """PATH, --study, --observers, --json, --csv and the options of :func:`add_run_arguments`."""
    p.add_argument(
        "path",
        type=Path,
        nargs="?",
        help="a patient folder or a dataset root (with --study: default the study's dataset root)",
    )
    p.add_argument(
        "--study",
        type=Path,
        metavar="STUDY_DIR",
        help="lay a reader study's finished edits (a study folder or its export) over the dataset, in memory",
    )
    p.add_argument(
        "--observers",
        nargs="+",
        metavar="ID",
        help="only these observers: study or published IDs; study:ID and published:ID when both have the ID "
        "(default: the study's observers with --study, else every published observer)",
    )
    p.add_argument("--json", action="store_true", help="print the rows as one JSON list")
    p.add_argument("--csv", type=Path, metavar="FILE", help="also write the rows to a CSV file")
    add_run_arguments(p)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """--scheduler, --workers, --cache, --fresh, --rehash and --quiet."""
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="S",
        help="processes (default: a local Dask cluster, one worker per core), sync (one process) or "
        "tcp://HOST:PORT (an existing dask.distributed cluster that sees the dataset under the same path)",
    )
    p.add_argument("--workers", type=int, metavar="N", help="worker processes of the local cluster (every core)")
    p.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="per-patient result cache (default: FILE.cache/ beside the --csv FILE, else the user cache folder)",
    )
    p.add_argument("--fresh", action="store_true", help="compute every patient again, ignoring the cache")
    p.add_argument("--rehash", action="store_true", help="check the contents of the input files against the cache")
    p.add_argument("--quiet", action="store_true", help="no progress bar, warnings or summary (errors still show)")


def add_edits_argument(p: argparse.ArgumentParser) -> None:
    """--edits DIR: saved edits read back and included (without it the output does not depend on them)."""
    p.add_argument(
        "--edits",
        type=Path,
        metavar="DIR",
        help="also include the edits saved in this output folder (e.g. lundprobe_edits/ beside the dataset): "
        "each series' newest version under its own source",
    )


@dataclass
class BatchInputs:
    """The checked inputs of a batch command."""

    paths: list[Path]
    scheduler: str
    cache_dir: Path
    opener: Any = None


def default_scheduler() -> str:
    """``processes``; ``sync`` in the bundled app, which ships no Dask."""
    return "sync" if getattr(sys, "frozen", False) else "processes"


def _protected(path: Path, patients: Sequence[Path]) -> list[Path]:
    """The dataset folders of a run, which nothing is ever written into."""
    from ..io.open import is_dataset_root

    out = [path, *patients]
    if len(patients) == 1 and patients[0] == path and is_dataset_root(path.parent):
        out.append(path.parent)
    return out


def _inside(target: Path, folders: Sequence[Path]) -> Path | None:
    t = Path(os.path.realpath(target))
    for f in folders:
        f = Path(os.path.realpath(f))
        if t == f or f in t.parents:
            return f
    return None


def check_batch_arguments(args: argparse.Namespace) -> BatchInputs:
    """Validate the options before any work.

    Raises
    ------
    CliError
        For a bad option, a missing input, or an output or cache folder inside the dataset.
    """
    from ..batch.cache import check_cache_folder
    from ..batch.run import InputError, check_scheduler, resolve_patients
    from ..paths import user_cache_dir
    from . import CliError

    if args.workers is not None and args.workers < 1:
        raise CliError("--workers must be at least 1")
    try:
        scheduler = check_scheduler(args.scheduler or default_scheduler())
    except InputError as e:
        raise CliError(str(e)) from e
    if args.workers is not None and scheduler != "processes":
        raise CliError(f"--workers sets the size of a local cluster; it does not apply to --scheduler {scheduler}")
    if args.csv is not None:
        folder = args.csv.parent if str(args.csv.parent) else Path(".")
        if not folder.is_dir():
            raise CliError(f"--csv {args.csv}: the folder {folder} does not exist")
        if args.csv.is_dir():
            raise CliError(f"--csv {args.csv}: is a folder; give a file name")
    opener = None
    if getattr(args, "study", None) is None and args.path is not None and _is_study_output(args.path):
        from . import warn

        warn(f"{args.path}: is a reader study's folder or export; its edits are laid over its dataset (--study)")
        args.study, args.path = args.path, None
    if getattr(args, "study", None) is not None or getattr(args, "observers", None):
        if getattr(args, "edits", None) is not None:
            raise CliError(
                "--edits reads the app's saved corrections; --study and --observers read a reader study's: give one"
            )
        args.path, paths, opener = study_overlay(args)
    elif args.path is None:
        raise CliError("give PATH (a patient folder or a dataset root), or --study STUDY_DIR")
    else:
        try:
            paths = resolve_patients(args.path)
        except InputError as e:
            raise CliError(str(e)) from e
    protected = _protected(args.path.expanduser(), paths)
    if args.csv is not None and (inside := _inside(args.csv, protected)) is not None:
        raise CliError(
            f"--csv {args.csv}: is inside the dataset ({inside}); the app never writes into a dataset. "
            "Choose a folder outside it"
        )
    if args.cache is not None:
        cache_dir = args.cache
    elif args.csv is not None:
        cache_dir = args.csv.with_name(args.csv.name + ".cache")
    else:
        cache_dir = user_cache_dir() / "batch"
    if args.csv is not None and os.path.realpath(cache_dir) == os.path.realpath(args.csv):
        raise CliError(f"--cache {cache_dir}: is the --csv file")
    try:
        check_cache_folder(cache_dir, protected)
    except ValueError as e:
        raise CliError(f"--cache {e}") from e
    return BatchInputs(paths, scheduler, cache_dir, opener)


def study_overlay(args: argparse.Namespace) -> tuple[Path, list[Path], Any]:
    """PATH, the patients and the opener of a run with ``--study`` and/or ``--observers``.

    With a study, PATH defaults to the study's dataset root and the run takes the study's patients
    found there, and its structures; ``--observers`` alone filters the dataset's published edits.

    Raises
    ------
    CliError
        For a study that cannot be read, an unknown observer, or a dataset without the study's patients.
    """
    from ..batch.run import InputError, resolve_patients
    from ..study.overlay import StudyOverlay, choose_observers, published_observers
    from ..study.reading import StudyReadError, read_study_outputs
    from . import CliError

    outputs = None
    try:
        if args.study is not None:
            outputs = read_study_outputs(args.study, _dataset_of(args.path))
        path = args.path if args.path is not None else (outputs.dataset_root if outputs else None)
        if path is None:
            raise CliError("give PATH (a patient folder or a dataset root)")
        paths = resolve_patients(path)
        if outputs is not None:
            study_patients = set(outputs.patients)
            paths = [p for p in paths if p.name in study_patients]
            if not paths:
                raise CliError(f"{path}: holds none of the study's patients")
        published = published_observers(paths)
        choice = choose_observers(args.observers, outputs.observers if outputs else (), published)
    except (StudyReadError, InputError) as e:
        raise CliError(str(e)) from e
    overlay = StudyOverlay.build(outputs, choice, outputs.structures if outputs is not None else None)
    return Path(path), paths, overlay


def _is_study_output(path: Path) -> bool:
    """Whether PATH is a study folder, a study export or a merged export (never a dataset)."""
    from ..study.files import study_file
    from ..study.reading import DEFINITION_RECORD

    path = path.expanduser()
    return study_file(path).is_file() or (path / DEFINITION_RECORD).is_file()


def _dataset_of(path: Path | None) -> Path | None:
    """The dataset root PATH names (PATH itself, or the parent of a patient folder)."""
    from ..io.open import detect_layout

    if path is None:
        return None
    return path.parent if detect_layout(path) is not None else path


class _Discard:
    def write(self, s: str) -> None:
        pass

    def flush(self) -> None:
        pass


class BatchProgress:
    """A tqdm progress bar of patients: done, failed, remaining and the estimated time left.

    On a terminal the bar is redrawn in place; otherwise (a log file, CI) the same line is written
    once per finished patient. A failed patient is reported at once with its reason.

    Parameters
    ----------
    label : str
        The command name.
    enabled : bool
        False shows no bar (failures are still reported).
    stream : file, optional
        Default ``sys.stderr``.
    """

    FORMAT = "{desc}: {n_fmt}/{total_fmt} patients |{bar}|{postfix} [{elapsed}<{remaining}]"

    def __init__(self, label: str, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.label = label
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar: Any = None

    def __call__(self, status: BatchStatus) -> None:
        """Report where the run stands."""
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(
                total=status.total,
                initial=status.done,
                desc=self.label,
                unit="patient",
                bar_format=self.FORMAT,
                file=self.stream if self.tty else _Discard(),
                disable=not self.enabled,
                dynamic_ncols=True,
                mininterval=0.2,
                postfix=f"{status.failed} failed, {status.remaining} remaining",
            )
        last = status.last
        if last is not None and last.failed:
            self.note(f"error: {last.patient_id}: failed: {last.reason}")
        postfix = f"{status.failed} failed, {status.remaining} remaining"
        if status.cached:
            postfix += f", {status.cached} from the cache"
        if not self.enabled:
            return
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(status.done + status.failed - self.bar.n)
        if not self.tty and last is not None:
            self.stream.write(f"{self.bar}\n")
            self.stream.flush()

    def note(self, line: str) -> None:
        """Print a line above the bar (the bar is drawn again below it)."""
        from tqdm import tqdm

        if self.bar is not None and self.tty and self.enabled:
            tqdm.write(line, file=self.stream)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Finish the bar's line."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run_batch_command(
    args: argparse.Namespace,
    analysis: Analysis,
    nothing: str,
    text: Callable[[list[dict]], str],
    post: Callable[[list[dict]], list[dict]] | None = None,
) -> int:
    """Run one analysis over the patients of ``args.path`` and write the rows.

    Rows stream to ``--json`` (stdout) and to the ``--csv`` file (put in place at the end) patient by
    patient; the text table, and rows transformed by ``post`` (pooling), are written at the end.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options (see :func:`add_batch_arguments`).
    analysis : Analysis
        What to compute.
    nothing : str
        Message of the error when no patient gives a row and none failed.
    text : callable
        ``text(rows)``: the table printed without ``--json``.
    post : callable, optional
        Applied to all the rows before they are written (then nothing streams).

    Returns
    -------
    int
        0 when no patient failed, :data:`EXIT_FAILED` otherwise.
    """
    from ..batch.cache import ResultCache
    from ..batch.cluster import ClusterError
    from ..batch.run import run_batch
    from ..metrics.table import CsvStream, JsonRowsStream, write_csv
    from . import CliError, warn

    inputs = check_batch_arguments(args)
    columns = analysis.columns
    collect = post is not None or not args.json  # the table and pooling need every row
    collected: list[dict] = []
    try:
        csv_out = CsvStream(args.csv, columns) if args.csv is not None and post is None else None
    except OSError as e:  # WriteRefused: an input, or a folder of the dataset
        raise CliError(f"cannot write --csv {args.csv}: {e}") from e
    json_out = JsonRowsStream(sys.stdout, columns) if args.json and post is None else None
    bar = BatchProgress(analysis.name, enabled=not args.quiet)
    failures: list[tuple[str, str]] = []
    warnings: dict[str, None] = {}  # ordered, and fast to look up over thousands of patients
    computed = cached = n_rows = 0
    try:
        results = run_batch(
            inputs.paths,
            [analysis],
            scheduler=inputs.scheduler,
            workers=args.workers,
            cache=ResultCache(inputs.cache_dir),
            fresh=args.fresh,
            rehash=args.rehash,
            opener=inputs.opener or _edits_opener(args),
            progress=bar,
        )
        for result in results:
            outcome = result.outcomes[analysis.name]
            cached += result.cached
            computed += not result.cached and not result.failed
            n_rows += len(outcome.rows)
            if result.failed:
                failures.append((result.patient_id, result.reason))
            for w in outcome.warnings:
                if w not in warnings:
                    warnings[w] = None
                    if not args.quiet:
                        bar.note(f"warning: {w}")
            if collect:
                collected.extend(outcome.rows)
            if csv_out is not None:
                csv_out.write(outcome.rows)
            if json_out is not None and not _stdout_write(json_out.write, outcome.rows):
                json_out = None
    except BaseException as e:
        if csv_out is not None:
            csv_out.abort()
        if isinstance(e, ClusterError):
            raise CliError(str(e)) from e
        raise
    finally:
        bar.close()
    warn(
        f"{analysis.name}: {len(inputs.paths)} patient(s): {computed} computed, {cached} from the cache "
        f"({inputs.cache_dir}), {len(failures)} failed"
    )
    for pid, reason in failures:
        print(f"error: {pid}: {reason}", file=sys.stderr)
    if not n_rows:
        if csv_out is not None:
            csv_out.abort()
        if failures:
            return EXIT_FAILED
        raise CliError(f"{args.path}: {nothing} ({'; '.join(warnings) or 'no patient has any'})")
    rows = post(collected) if post is not None else collected
    try:
        if csv_out is not None:
            csv_out.commit()
            warn(f"wrote {csv_out.count} rows to {args.csv}")
        elif args.csv is not None:
            write_csv(args.csv, rows, columns)
            warn(f"wrote {len(rows)} rows to {args.csv}")
    except OSError as e:
        raise CliError(f"cannot write --csv {args.csv}: {e}") from e
    if json_out is not None:
        _stdout_write(lambda _: json_out.close(), None)
    elif args.json and post is not None:
        _stdout_write(
            lambda r: print(json.dumps([{c: x.get(c) for c in columns} for x in r], indent=2, allow_nan=False)), rows
        )
    elif not args.json:
        _stdout_write(lambda r: print(text(r)), rows)
    return EXIT_FAILED if failures else 0


def _edits_opener(args: argparse.Namespace):
    from ..batch.patient import EditsOpener
    from . import CliError

    folder = getattr(args, "edits", None)
    if folder is None:
        return None
    if not folder.is_dir():
        raise CliError(f"--edits {folder}: no such folder")
    return EditsOpener(folder)


def _stdout_write(fn: Callable[[Any], None], arg: Any) -> bool:
    """Call ``fn(arg)`` to write to stdout; False when the reader has gone (``| head``).

    A reader that leaves early is not an error: stdout is pointed at devnull, so that later writes
    and Python's own flush at exit do not raise again.
    """
    try:
        fn(arg)
        sys.stdout.flush()
        return True
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return False
