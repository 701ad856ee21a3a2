"""``lundprobe-gui metrics PATH``: the comparison set of a patient or of every patient of a dataset root.

This module also holds what the three analysis commands (``metrics``, ``dvh``,
``uncertainty-edits``) share: the common options, the input checks and the progress bar.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable, Sequence, TextIO

from ..metrics.table import format_table, write_csv

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


# -- shared by the analysis commands ---------------------------------------------------------------
class StderrProgress:
    """A progress bar on stderr, redrawn in place on a terminal and one line per patient otherwise.

    Parameters
    ----------
    label : str
        Prefix, e.g. the command name.
    unit : str
        What is counted (``pairs``, ``structures``...).
    enabled : bool
        False draws nothing.
    stream : file, optional
        Defaults to ``sys.stderr``.
    """

    WIDTH = 30
    MIN_INTERVAL_S = 0.1

    def __init__(self, label: str, unit: str, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.label = label
        self.unit = unit
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_draw = 0.0
        self._last_item = ""
        self._last_done = 0
        self._drawn = False
        self._t0 = time.perf_counter()

    def __call__(self, done: int, total: int, item: str) -> None:
        """Report ``done`` of ``total`` units, currently working on ``item``."""
        if not self.enabled:
            return
        if self.tty:
            now = time.perf_counter()
            if done < total and now - self._last_draw < self.MIN_INTERVAL_S:
                return
            self._last_draw = now
            filled = int(self.WIDTH * done / total) if total else self.WIDTH
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.stream.write(f"\r{self.label} [{bar}] {done}/{total} {self.unit} {item}".ljust(79)[:120])
            self._drawn = True
            if done >= total:
                self.stream.write("\n")
                self._drawn = False
            self.stream.flush()
            return
        # Not a terminal (a log file, CI): carriage returns would pile up, so one line per patient.
        if self._last_item and item != self._last_item:
            self._line(self._last_done, total, self._last_item)
        self._last_item, self._last_done = item, done
        if done >= total and total and item:
            self._line(done, total, item)
            self._last_item = ""

    def _line(self, done: int, total: int, item: str) -> None:
        elapsed = time.perf_counter() - self._t0
        self.stream.write(f"{self.label}: {item} done ({done}/{total} {self.unit}, {elapsed:.1f} s)\n")
        self.stream.flush()

    def close(self) -> None:
        """End a half-drawn bar with a newline."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """PATH, --json, --csv, --workers and --quiet."""
    p.add_argument("path", type=Path, help="a patient folder or a dataset root")
    p.add_argument("--json", action="store_true", help="print the rows as one JSON list")
    p.add_argument("--csv", type=Path, metavar="FILE", help="also write the rows to a CSV file")
    p.add_argument("--workers", type=int, default=2, metavar="N", help="worker processes (default 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no warnings")


def check_common_arguments(args: argparse.Namespace) -> list[Path]:
    """Validate the common options before any work; return the patient folders.

    Raises
    ------
    CliError
        For a bad option or a missing input.
    """
    from ..metrics.batch import InputError, resolve_patients
    from . import CliError

    if args.workers < 1:
        raise CliError("--workers must be at least 1")
    if args.csv is not None:
        folder = args.csv.parent if str(args.csv.parent) else Path(".")
        if not folder.is_dir():
            raise CliError(f"--csv {args.csv}: the folder {folder} does not exist")
        if args.csv.is_dir():
            raise CliError(f"--csv {args.csv}: is a folder; give a file name")
    try:
        return resolve_patients(args.path)
    except InputError as e:
        raise CliError(str(e)) from e


def emit(
    args: argparse.Namespace,
    rows: Sequence[dict],
    columns: Sequence[str],
    warnings: Sequence[str],
    text: Callable[[], str],
) -> None:
    """Print warnings to stderr, write the CSV, and print the JSON or the text form."""
    from . import CliError, warn

    for w in warnings:
        warn(f"warning: {w}")
    if args.csv is not None:
        try:
            write_csv(args.csv, rows, columns)
        except OSError as e:
            raise CliError(f"cannot write --csv {args.csv}: {e}") from e
        warn(f"wrote {len(rows)} rows to {args.csv}")
    try:
        if args.json:
            print(json.dumps([{c: r.get(c) for c in columns} for r in rows], indent=2, allow_nan=False))
        else:
            print(text())
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (``| head``) left early: not an error. Point stdout at devnull so that
        # Python's own flush at exit does not raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


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
    add_common_arguments(p)
    p.add_argument("--tolerance", type=float, default=2.0, metavar="MM", help="surface Dice tolerance in mm (2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute and print the rows."""
    from ..metrics.batch import run_metrics
    from ..metrics.compare import METRICS_ROW_KEYS
    from . import CliError

    if not args.tolerance >= 0:  # also rejects nan
        raise CliError("--tolerance must be a non-negative number of mm")
    paths = check_common_arguments(args)
    bar = StderrProgress("metrics", "pairs", enabled=not args.quiet)
    try:
        result = run_metrics(paths, args.tolerance, args.workers, bar)
    finally:
        bar.close()
    if not result.rows:
        detail = "; ".join(result.warnings) or "no patient has DL or observer masks"
        raise CliError(f"{args.path}: nothing to compare ({detail})")
    emit(
        args,
        result.rows,
        METRICS_ROW_KEYS,
        result.warnings,
        lambda: format_table(result.rows, TEXT_COLUMNS) + "\n(all columns: --json or --csv FILE)",
    )
    return 0
