"""Metric rows as CSV files and as plain-text tables.

Rows are flat dictionaries (the JSON rows of the commands). In CSV a missing value (None) is an
empty cell and floats are written with ``repr`` precision, so reading a cell back with
``float()`` gives exactly the JSON number.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Iterable, Sequence, TextIO

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


class CsvStream:
    """A CSV file written row by row while a run goes on, and put in place when it ends.

    The rows go to a temporary ``.<name>.<random>.part`` file beside ``path``; :meth:`commit`
    renames it to ``path`` (a reader never sees half a file) and :meth:`abort` removes it. The
    bytes are those of :func:`rows_to_csv` on all the rows.

    Parameters
    ----------
    path : str or Path
        Output file; its folder must exist.
    columns : sequence of str
        Column order.
    """

    def __init__(self, path: str | Path, columns: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.count = 0
        folder = self.path.parent if str(self.path.parent) else Path(".")
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such folder for the CSV file")
        from ..io.writer import sweep_stale_parts

        sweep_stale_parts(folder)  # what runs killed long ago left behind
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=folder)
        self._tmp = Path(tmp)
        self._fh = os.fdopen(fd, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._fh, lineterminator="\n")
        self._writer.writerow(self.columns)

    def write(self, rows: Iterable[dict]) -> None:
        """Append rows (flushed, so the part file shows the progress)."""
        for r in rows:
            self._writer.writerow([_cell(r.get(c)) for c in self.columns])
            self.count += 1
        self._fh.flush()

    def commit(self) -> Path:
        """Close and put the file in place; returns its path."""
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self._tmp, self.path)
        logger.info("wrote %s", self.path)
        return self.path

    def abort(self) -> None:
        """Close and remove the temporary file; ``path`` is left as it was."""
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)


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
    """
    out = CsvStream(path, columns)
    try:
        out.write(rows)
        return out.commit()
    except BaseException:
        out.abort()
        raise


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
