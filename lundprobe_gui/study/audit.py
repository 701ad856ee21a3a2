"""``<study>/audit.log``: an append-only record of the study's events, from ``study init`` on.

One JSON object per line: ``time`` (when the event happened, which a test may inject),
``logged_at`` (this computer's wall clock when the line was written, never supplied by a caller),
``mono`` (the monotonic clock then, to tell a clock that jumped within one process), the event
and its fields, ``user``, ``host`` and ``pid``. Each entry is written with a single ``write`` on
a file opened with ``O_APPEND`` and fsync'd, so concurrent writers never interleave inside a
line. A line cut short by a crash is completed with a newline before the next entry, and
readers skip it with a warning.

Besides the admin actions, the log holds the seal of ``study.json`` (``definition_sha256`` in
``study_created``, ``definition_sealed`` and ``definition_resealed``) and one ``session_saved``
link per save of an observer's session file (see :mod:`lundprobe_gui.session.chain`).
"""

from __future__ import annotations

import errno
import getpass
import json
import logging
import os
import socket
import stat
import time
from pathlib import Path
from typing import Any

from ..io.guard import check_target
from ..io.small_files import MIB, SmallFileError, file_kind, parse_json, read_small_bytes
from .clock import iso_utc, to_epoch, wall_time
from .files import audit_file

logger = logging.getLogger(__name__)

AUDIT_MAX_BYTES = 256 * MIB
"""Largest audit log read back (a line is about 300 bytes: close to a million events)."""


def login_name() -> str:
    """The login name recorded in the audit log ("unknown" where there is none)."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - containers without a passwd entry
        return "unknown"


def append_audit(study_dir: str | Path, event: str, now: float | None = None, **fields: Any) -> dict:
    """Append one entry and return it.

    Parameters
    ----------
    study_dir : path
        The study folder.
    event : str
        Short tag: ``study_created``, ``case_finished``, ``case_unlocked``, ``washout_overridden``,
        ``stale_lock_recovered``, ``admin_refused``...
    now : float, optional
        Event time (POSIX seconds); the wall clock when omitted.
    **fields
        JSON-serialisable details.
    """
    entry = {
        "time": iso_utc(to_epoch(now)),
        "logged_at": iso_utc(wall_time()),
        "mono": round(time.monotonic(), 3),
        "event": event,
        **fields,
        "user": login_name(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    line = (json.dumps(entry, sort_keys=False) + "\n").encode("utf-8")
    path = audit_file(Path(study_dir))
    if path.is_symlink():
        raise PermissionError(f"{path} is a symbolic link; refusing to write the audit log through it")
    check_target(path)
    # O_NOFOLLOW: a link put there after the check is not followed either; O_NONBLOCK: a FIFO in
    # its place fails at once (no reader) or is refused below, instead of blocking the session;
    # 0o666: the umask decides
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as e:
        if e.errno == errno.ENXIO:  # a FIFO without a reader
            raise SmallFileError(
                f"{path}: the audit log is a FIFO (named pipe), not a regular file; not written"
            ) from e
        raise type(e)(e.errno, f"{e.strerror or e}: cannot append to the audit log {path}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SmallFileError(f"{path}: the audit log is {file_kind(st.st_mode)}, not a regular file; not written")
        # appending writes in place: a file with another name too (a hard link of an input) is never appended to
        if st.st_nlink != 1:
            raise PermissionError(f"{path} has {st.st_nlink} names (hard links); refusing to append to the audit log")
        if _ends_without_newline(path):
            line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    if event != "session_saved":
        logger.info("audit: %s %s", event, fields)
    return entry


def _ends_without_newline(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return False
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) != b"\n"
    except OSError:
        return False


def read_audit(study_dir: str | Path) -> list[dict]:
    """All readable entries, oldest first (damaged lines are skipped with a warning)."""
    path = audit_file(Path(study_dir))
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(read_small_bytes(path, AUDIT_MAX_BYTES, "audit log").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = parse_json(line)
        except ValueError:
            logger.warning("%s line %d is damaged; skipped", path, n)
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out
