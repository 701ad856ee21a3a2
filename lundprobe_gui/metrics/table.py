"""Metric rows as CSV files and as plain-text tables.

Rows are flat dictionaries (the JSON rows of the commands). In CSV a missing value (None) is an
empty cell and floats are written with ``repr`` precision, so reading a cell back with
``float()`` gives exactly the JSON number.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path
from typing import Iterable, Sequence

from ..io.guard import check_output_file
from ..io.writer import atomic_write

logger = logging.getLogger(__name__)


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ""
    return str(v)


def rows_to_csv(rows: Iterable[dict], columns: Sequence[str]) -> str:
    """CSV text with a header line of ``columns`` and one line per row.

    Parameters
    ----------
    rows : iterable of dict
        Rows; keys outside ``columns`` are ignored, missing keys give empty cells.
    columns : sequence of str
        Column order.

    Returns
    -------
    str
        The CSV text (``\\n`` line ends).
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in columns])
    return buf.getvalue()


def write_csv(path: str | Path, rows: Iterable[dict], columns: Sequence[str]) -> Path:
    """Write rows as CSV, atomically (a reader never sees half a file).

    Parameters
    ----------
    path : str or Path
        Output file; its folder must exist.
    rows : iterable of dict
        Rows.
    columns : sequence of str
        Column order.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    FileNotFoundError
        When the folder does not exist.
    WriteRefused
        When the file is an input, or lies in a patient folder or a dataset root.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder for the CSV file")
    check_output_file(path)
    atomic_write(path, rows_to_csv(rows, columns).encode("utf-8"))
    logger.info("wrote %s", path)
    return path


def format_value(v: object, digits: int = 4) -> str:
    """Short display form of a cell: floats to ``digits`` significant digits, None as ``-``."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if math.isfinite(v) else "-"
    return str(v)


def format_table(rows: Sequence[dict], columns: Sequence[str], digits: int = 4) -> str:
    """A fixed-width text table of rows (for the terminal).

    Parameters
    ----------
    rows : sequence of dict
        Rows.
    columns : sequence of str
        Columns to show, in order.
    digits : int
        Significant digits of floats.

    Returns
    -------
    str
        Header, a rule and one line per row.
    """
    cells = [[format_value(r.get(c), digits) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r.get(c), (int, float)) or r.get(c) is None for r in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    out = [line(list(columns)), "  ".join("-" * w for w in widths)]
    out.extend(line(row) for row in cells)
    return "\n".join(out)
