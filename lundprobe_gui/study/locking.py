"""One open session per observer: a lock file holding the pid, host and start time of its owner.

The lock is created atomically (written to a temporary file, then hard-linked to its name, which
fails if the name exists), so its content is always complete. A lock whose process is gone is
*stale*: when the pid no longer runs on this host, or runs but started at another time than the
recorded one (a reused pid), the lock is taken over and the caller is told so it can log it. A lock
from another host cannot be checked from here and is always refused.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ..io.guard import check_target, remove_file
from ..io.writer import atomic_write, fsync_dir
from .clock import iso_utc, to_epoch
from .errors import SessionLocked

logger = logging.getLogger(__name__)


def process_start_ticks(pid: int) -> str | None:
    """The kernel's start time of a process (Linux ``/proc``), to tell a reused pid from the original."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class LockInfo:
    """What a lock file says about its owner."""

    pid: int
    hostname: str
    started_at: str
    purpose: str
    token: str
    pid_start: str | None = None

    def describe(self) -> str:
        """Human-readable owner."""
        return f"pid {self.pid} on {self.hostname}, since {self.started_at} ({self.purpose})"


def read_lock(path: Path) -> LockInfo | None:
    """The lock file's content; None when it does not exist.

    Raises
    ------
    SessionLocked
        When the file exists but cannot be understood (it is never removed on a guess).
    """
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    try:
        d = json.loads(raw)
        return LockInfo(
            int(d["pid"]),
            str(d["hostname"]),
            str(d["started_at"]),
            str(d.get("purpose", "")),
            str(d.get("token", "")),
            d.get("pid_start"),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise SessionLocked(
            f"{path} exists but cannot be read ({e}); if no session is open, an administrator may delete it"
        ) from e


def is_stale(info: LockInfo) -> bool:
    """Whether the owner is certainly gone (only decidable on the owner's host)."""
    if info.hostname != socket.gethostname():
        return False
    if not pid_alive(info.pid):
        return True
    if info.pid_start is not None:
        now_start = process_start_ticks(info.pid)
        if now_start is not None and now_start != info.pid_start:
            return True
    return False


class SessionLock:
    """The lock of one observer's session.

    Parameters
    ----------
    path : path
        The lock file (``<study>/sessions/<observer>.lock``).
    purpose : str
        What holds it (``session`` or ``admin``), shown to whoever is refused.
    on_stale : callable, optional
        Called with the stale :class:`LockInfo` after it was taken over (to write the audit log).
    """

    def __init__(
        self, path: Path, purpose: str = "session", on_stale: Callable[[LockInfo], None] | None = None
    ) -> None:
        self.path = Path(path)
        self.purpose = purpose
        self.on_stale = on_stale
        self.info: LockInfo | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self.info is not None

    def acquire(self, now: float | None = None) -> LockInfo:
        """Take the lock, taking over a stale one.

        Raises
        ------
        SessionLocked
            When a live session (or one on another host) holds it.
        """
        if self.info is not None:
            return self.info
        pid = os.getpid()
        me = LockInfo(
            pid, socket.gethostname(), iso_utc(to_epoch(now)), self.purpose, uuid.uuid4().hex, process_start_ticks(pid)
        )
        data = json.dumps(asdict(me), indent=2).encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            try:
                atomic_write(self.path, data, overwrite=False)
                self.info = me
                return me
            except FileExistsError:
                pass
            other = read_lock(self.path)
            if other is None:
                continue  # released between our attempt and the read: try again
            if not is_stale(other):
                raise SessionLocked(
                    f"this observer already has an open session ({other.describe()}). Close it "
                    "first; a session can be open only once at a time."
                )
            if self._break(other):
                logger.warning("recovered the stale lock %s (%s)", self.path, other.describe())
                if self.on_stale is not None:
                    self.on_stale(other)
        raise SessionLocked(f"could not take {self.path}: other processes keep competing for it")

    def _break(self, stale: LockInfo) -> bool:
        # Move the stale lock aside under a unique name, then check that what was moved is the
        # stale lock we judged: another process may have replaced it in between.
        aside = self.path.with_name(f".{self.path.name}.stale-{uuid.uuid4().hex}")
        check_target(self.path)
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return False
        try:
            moved = read_lock(aside)
        except SessionLocked:
            moved = None
        if moved is not None and moved.token != stale.token:
            try:
                check_target(self.path)
                os.link(aside, self.path)  # put the live lock back (fails if yet another appeared)
            except OSError:
                logger.warning("lock %s changed hands while recovering it", self.path)
            remove_file(aside)
            return False
        remove_file(aside)
        fsync_dir(self.path.parent)
        return True

    def release(self) -> None:
        """Remove the lock if this object still owns it."""
        if self.info is None:
            return
        try:
            current = read_lock(self.path)
        except SessionLocked:
            current = None
        if current is not None and current.token == self.info.token:
            if remove_file(self.path):
                fsync_dir(self.path.parent)
        else:
            logger.warning("lock %s is no longer ours; left in place", self.path)
        self.info = None

    def __enter__(self) -> "SessionLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
