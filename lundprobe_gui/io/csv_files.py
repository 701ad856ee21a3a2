"""The one way the app writes CSV: every cell safe to open in a spreadsheet, the file replaced atomically.

Spreadsheet formulas
--------------------
A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is taken for a
formula by Excel, LibreOffice and Google Sheets, so a structure name, a comment or a file name such
as ``=HYPERLINK(...)`` would run when the file is opened. Following OWASP's advice on CSV
injection, such a cell is written with a leading apostrophe (``'=HYPERLINK(...)``), which the
spreadsheet shows as text; the full-width forms of the four signs get the same treatment.
Numbers stay numbers: ints and floats, and text that is exactly a decimal number (``-1.5``,
``-3``, ``2e-3``), are written as they are.

Line breaks inside a cell are written as ``\\n`` (the cell quoted), so a lone carriage return
cannot end a row early.

Text that cannot be encoded
---------------------------
Cells are UTF-8. A cell holding a lone surrogate (a file name that is not UTF-8, as Python decodes
it) is written with that character as a ``\\udcxx`` escape rather than failing the whole file.

Floats are written with ``repr`` precision, so reading a cell back with ``float()`` gives exactly
the number; None and non-finite floats are empty cells.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .guard import check_output_file
from .writer import atomic_write, open_part, publish_part, sweep_stale_parts

logger = logging.getLogger(__name__)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""First characters that make a spreadsheet read a cell as a formula (OWASP, plus full-width signs)."""
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def is_number_text(text: str) -> bool:
    """Whether ``text`` is exactly a decimal number (``-1.5``, ``3``, ``2e-3``), which is never a formula."""
    return _NUMBER.fullmatch(text) is not None


def safe_text(text: str) -> str:
    """A text cell as written: an apostrophe before a formula start, line breaks as ``\\n``, lone surrogates escaped.

    A carriage return alone would not make the csv module quote the cell (lines end in ``\\n``), and
    readers would take it for the end of the row; every line break is therefore written as ``\\n``,
    which quotes the cell.
    """
    if text.startswith(FORMULA_STARTS) and not is_number_text(text):
        text = "'" + text
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def cell(value: object) -> str:
    """The CSV form of one value (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, int):
        return str(value)
    return safe_text(str(value))


def csv_text(rows: Iterable[Mapping[str, object]], columns: Sequence[str]) -> str:
    """CSV text: a header line of ``columns`` and one line per row (``\\n`` line ends).

    Parameters
    ----------
    rows : iterable of mapping
        Rows; keys outside ``columns`` are ignored, missing keys give empty cells.
    columns : sequence of str
        Column order (the header cells are made safe like any other text).

    Returns
    -------
    str
        The CSV text.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([cell(c) for c in columns])
    for r in rows:
        w.writerow([cell(r.get(c)) for c in columns])
    return buf.getvalue()


def write_csv(path: str | Path, rows: Iterable[Mapping[str, object]], columns: Sequence[str]) -> Path:
    """Write rows as a CSV file, atomically (a reader never sees half a file).

    Parameters
    ----------
    path : str or Path
        Output file; its folder must exist.
    rows : iterable of mapping
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
    OSError
        When the file cannot be written (the message names it).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder for the CSV file")
    check_output_file(path)
    atomic_write(path, csv_text(rows, columns).encode("utf-8"))
    logger.info("wrote %s", path)
    return path


class CsvStream:
    """A CSV file written row by row while a run goes on, and put in place when it ends.

    The rows go to a temporary ``.<name>.<random>.part`` file beside ``path``; :meth:`commit`
    renames it to ``path`` (a reader never sees half a file) and :meth:`abort` removes it. The
    bytes are those of :func:`csv_text` on all the rows.

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
        check_output_file(self.path)
        sweep_stale_parts(folder)  # what runs killed long ago left behind
        fd, self._tmp = open_part(self.path)
        self._fh = os.fdopen(fd, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._fh, lineterminator="\n")
        self._writer.writerow([cell(c) for c in self.columns])

    def write(self, rows: Iterable[dict]) -> None:
        """Append rows (flushed, so the part file shows the progress)."""
        for r in rows:
            self._writer.writerow([cell(r.get(c)) for c in self.columns])
            self.count += 1
        self._fh.flush()

    def commit(self) -> Path:
        """Close and put the file in place; returns its path."""
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        publish_part(self._tmp, self.path)  # the run may have taken hours: the target is checked again
        logger.info("wrote %s", self.path)
        return self.path

    def abort(self) -> None:
        """Close and remove the temporary file; ``path`` is left as it was."""
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)
