"""Metric rows as CSV files and as plain-text tables.

Rows are flat dictionaries (the JSON rows of the commands). CSV goes through the app's one CSV
writer, :mod:`lundprobe_gui.io.csv_files` (re-exported here as :func:`rows_to_csv` and
:func:`write_csv`): a missing value (None) is an empty cell, floats are written with ``repr``
precision, so reading a cell back with ``float()`` gives exactly the JSON number, and text that
a spreadsheet would run as a formula is written as text.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from typing import TextIO

from ..io.csv_files import CsvStream, write_csv
from ..io.csv_files import csv_text as rows_to_csv

logger = logging.getLogger(__name__)

__all__ = ["CsvStream", "JsonRowsStream", "format_table", "format_value", "rows_to_csv", "write_csv"]


class JsonRowsStream:
    """A JSON list of rows printed row by row, byte for byte as ``json.dumps(rows, indent=2)``.

    Nothing is written before the first row, so a run that ends without rows prints nothing.

    Parameters
    ----------
    stream : file
        Text stream (stdout).
    columns : sequence of str
        Keys of each row, in order (missing ones are ``null``).
    """

    def __init__(self, stream: TextIO, columns: Sequence[str]) -> None:
        self.stream = stream
        self.columns = list(columns)
        self.count = 0

    def write(self, rows: Iterable[dict]) -> None:
        """Print rows."""
        for r in rows:
            text = json.dumps({c: r.get(c) for c in self.columns}, indent=2, allow_nan=False)
            self.stream.write(("[\n" if self.count == 0 else ",\n") + "  " + text.replace("\n", "\n  "))
            self.count += 1
        self.stream.flush()

    def close(self) -> None:
        """End the list (``[]`` when there was no row)."""
        self.stream.write("\n]\n" if self.count else "[]\n")
        self.stream.flush()


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
