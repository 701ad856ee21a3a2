"""The interaction log of a session: one JSON object per line, appended as the person works.

Each line is one event: ``kind`` (``open``, ``input``, ``tool``, ``stroke``, ``undo``, ``slice``,
``layer``, ``minimised``, ``focus_out``, ``rate``, ``finish``... see docs/study.md), ``t`` (the
event time in POSIX seconds, from which active time is computed), ``at`` (the same as ISO UTC),
``wall`` and ``mono`` (this computer's wall clock and monotonic clock when the line was made, to
tell when the clock jumped), ``sid`` (one random id per opened session) and the event's fields,
among them the target that was active after it.

Lines are buffered in memory and appended by the session's writer together with each save of
the state; the state records how many bytes of the log it acknowledges and their sha256, so a
log edited outside the app is detected when the session opens, and lines written by a process
killed before it could record them are cut off then.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io.guard import check_target
from ..io.small_files import MIB, SmallFileError, file_kind
from .clock import iso_utc

logger = logging.getLogger(__name__)

EVENTS_MAX_BYTES = 512 * MIB
"""Largest event log read back (a line is about 200 bytes: a few million events)."""


@dataclass(frozen=True)
class LogMark:
    """How much of a log a saved state acknowledges: ``lines``, ``bytes`` and their ``sha256``."""

    lines: int = 0
    bytes: int = 0
    sha256: str = hashlib.sha256(b"").hexdigest()

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"lines": self.lines, "bytes": self.bytes, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, d: Any) -> LogMark:
        """Inverse of :meth:`to_dict` (ValueError on a malformed mark)."""
        if not isinstance(d, dict):
            raise ValueError("the event-log mark is not an object")
        lines, size, digest = int(d["lines"]), int(d["bytes"]), str(d["sha256"])
        if lines < 0 or size < 0 or len(digest) != 64:
            raise ValueError("the event-log mark is malformed")
        return cls(lines, size, digest)


class EventLog:
    """An append-only JSON-lines log with a running sha256 of what was written.

    Parameters
    ----------
    path : path
        The log file (created on the first write).
    mark : LogMark
        What the saved state acknowledges; :meth:`open_at` checks and trims the file to it.
    """

    def __init__(self, path: str | Path, mark: LogMark | None = None) -> None:
        self.path = Path(path)
        self.sid = uuid.uuid4().hex[:12]
        self._buffer: list[bytes] = []
        self._mark = mark or LogMark()
        self._hash = hashlib.sha256()
        self._lines = 0
        self._bytes = 0

    # -- opening -----------------------------------------------------------------------------
    def open_at(self, mark: LogMark | None) -> None:
        """Check the file against the acknowledged ``mark`` and trim lines beyond it.

        ``None`` (a state saved before event logs existed) starts a log after whatever the file holds.

        Raises
        ------
        ValueError
            When the file is shorter than the mark or its acknowledged part differs (edited outside the app).
        """
        size = self._size()
        if mark is None:
            data = self._read(size) if size else b""
            self._hash = hashlib.sha256(data)
            self._bytes, self._lines = size, data.count(b"\n")
            self._mark = self.mark
            return
        self.verify(mark)
        data = self._read(mark.bytes)
        h = hashlib.sha256(data)
        if size > mark.bytes:
            logger.warning("%s: %d bytes written by an interrupted save are cut off", self.path, size - mark.bytes)
            check_target(self.path)
            os.truncate(self.path, mark.bytes)
        self._hash, self._bytes, self._lines, self._mark = h, mark.bytes, mark.lines, mark

    def verify(self, mark: LogMark) -> None:
        """Check, without changing anything, that the file starts with what ``mark`` acknowledges.

        Raises ValueError if it does not.
        """
        size = self._size()
        if size < mark.bytes:
            raise ValueError(f"{self.path} holds {size} bytes, fewer than the {mark.bytes} the session recorded")
        data = self._read(mark.bytes)
        if hashlib.sha256(data).hexdigest() != mark.sha256 or data.count(b"\n") != mark.lines:
            raise ValueError(f"{self.path} differs from what the session recorded (edited outside the app)")

    def _size(self) -> int:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return 0
        if not stat.S_ISREG(st.st_mode):
            raise SmallFileError(f"{self.path}: the event log is {file_kind(st.st_mode)}, not a regular file")
        if st.st_size > EVENTS_MAX_BYTES:
            raise SmallFileError(f"{self.path}: the event log is larger than {EVENTS_MAX_BYTES // MIB} MB")
        return st.st_size

    def _read(self, n: int) -> bytes:
        if n == 0:
            return b""
        with open(self.path, "rb") as fh:
            data = fh.read(n)
        if len(data) != n:
            raise ValueError(f"{self.path}: only {len(data)} of {n} bytes could be read")
        return data

    # -- writing -------------------------------------------------------------------------------
    def add(self, kind: str, t: float, **fields: Any) -> dict:
        """Buffer one event (written by the next :meth:`flush`); returns it."""
        entry = {
            "t": round(float(t), 3),
            "at": iso_utc(t),
            "kind": kind,
            **{k: v for k, v in fields.items() if v is not None},
            "wall": round(time.time(), 3),
            "mono": round(time.monotonic(), 3),
            "sid": self.sid,
        }
        self._buffer.append((json.dumps(entry, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii"))
        return entry

    @property
    def pending(self) -> int:
        """Buffered lines not written yet."""
        return len(self._buffer)

    def take(self) -> list[bytes]:
        """The buffered lines, removed from the buffer (the caller writes them with :meth:`write`)."""
        lines, self._buffer = self._buffer, []
        return lines

    def give_back(self, lines: list[bytes]) -> None:
        """Put lines taken by :meth:`take` back in front of the buffer (their write failed)."""
        self._buffer = lines + self._buffer

    def drop(self, lines: list[bytes]) -> None:
        """Forget lines taken by :meth:`take` (the change they logged was taken back)."""
        logger.debug("dropped %d event(s) of a change that was taken back", len(lines))

    def write(self, lines: list[bytes]) -> LogMark:
        """Append ``lines`` (after cutting off what a failed write left) and return the new mark."""
        if lines:
            if self._size() != self._bytes:  # a write that failed part-way left a partial line
                check_target(self.path)
                os.truncate(self.path, self._bytes)
            blob = b"".join(lines)
            check_target(self.path)  # never an input of the study's dataset
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
            fd = os.open(self.path, flags, 0o666)  # the umask decides
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise SmallFileError(f"{self.path}: the event log is not a regular file; not written")
                if st.st_nlink != 1:  # appending writes in place: a file with another name too is never appended to
                    raise PermissionError(f"{self.path} has {st.st_nlink} names (hard links); not written")
                view = memoryview(blob)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                os.fsync(fd)
            finally:
                os.close(fd)
            self._hash.update(blob)
            self._bytes += len(blob)
            self._lines += len(lines)
        return self.mark

    def truncate_to(self, mark: LogMark) -> None:
        """Go back to an acknowledged mark (a state save that failed is taken back with its events)."""
        if self._bytes == mark.bytes:
            return
        if self.path.exists():
            check_target(self.path)
            os.truncate(self.path, mark.bytes)
        data = self._read(mark.bytes) if mark.bytes else b""
        self._hash, self._bytes, self._lines = hashlib.sha256(data), mark.bytes, mark.lines

    @property
    def mark(self) -> LogMark:
        """What has been written so far."""
        return LogMark(self._lines, self._bytes, self._hash.hexdigest())


def read_events(path: str | Path, limit_bytes: int | None = None) -> Iterator[dict]:
    """The events of a log, oldest first (damaged lines are skipped with a warning).

    Parameters
    ----------
    path : path
        The log file.
    limit_bytes : int, optional
        Read only this many bytes (the part a saved state acknowledges).
    """
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise SmallFileError(f"{path}: the event log is {file_kind(st.st_mode)}, not a regular file")
    if st.st_size > EVENTS_MAX_BYTES:
        raise SmallFileError(f"{path}: the event log is larger than {EVENTS_MAX_BYTES // MIB} MB")
    with open(path, "rb") as fh:
        data = fh.read(limit_bytes if limit_bytes is not None else -1)
    for n, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            logger.warning("%s line %d is damaged; skipped", path, n)
            continue
        if isinstance(ev, dict):
            yield ev
