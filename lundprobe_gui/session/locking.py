"""One open session per observer: a lock file holding the pid, process start time and host of its owner.

The lock is created atomically (written to a temporary file, then hard-linked to its name, which
fails if the name exists), so its content is always complete. A lock whose process is gone is
*stale*: when the pid no longer runs on this host, or runs but started at another time than the
recorded one (a reused pid), the lock is taken over and the caller is told so it can log it.
Liveness and start times come from psutil, so the check is the same on Linux, macOS and Windows
(where a pid is not probed with a signal). A lock from another host cannot be checked from here
and is refused; when that host is known to be gone, an administrator breaks it explicitly
(:func:`break_lock`, ``study break-lock``), and the caller records it in its audit log.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from ..io.guard import check_target, remove_file
from ..io.small_files import LOCK_MAX_BYTES, SmallFileError, read_json_file
from ..io.writer import atomic_write, fsync_dir
from .clock import iso_utc, to_epoch
from .errors import SessionLocked

logger = logging.getLogger(__name__)

START_TOLERANCE_S = 1.0
"""Start times within this are the same process (the boot time behind them is only known to a second)."""


def host_name() -> str:
    """This computer's name as locks record it."""
    return socket.gethostname()


def same_host(name: str) -> bool:
    """Whether a recorded host name is this computer (host names are case-insensitive)."""
    return name.casefold() == host_name().casefold()


def process_created(pid: int) -> float | None:
    """When a process started (POSIX seconds), or None when there is no such process or it is hidden."""
    try:
        return psutil.Process(int(pid)).create_time()
    except (psutil.Error, ValueError, OverflowError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        return pid > 0 and psutil.pid_exists(int(pid))
    except (ValueError, OverflowError):
        return False


def _legacy_start_ticks(pid: int) -> str | None:
    # Locks written before psutil recorded the start in clock ticks since boot (Linux /proc).
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as fh:
            text = fh.read(4096).decode("ascii", "replace")
    except (OSError, ValueError):
        return None
    fields = text[text.rfind(")") + 2 :].split()  # the command name may hold spaces and ')'
    return fields[19] if len(fields) > 19 else None


@dataclass(frozen=True)
class LockInfo:
    """What a lock file says about its owner.

    ``created`` is the owner process's start time (POSIX seconds); ``pid_start`` is the start in
    clock ticks that older lock files hold instead.
    """

    pid: int
    hostname: str
    started_at: str
    purpose: str
    token: str
    pid_start: str | None = None
    created: float | None = None
    user: str = ""

    def describe(self) -> str:
        """Human-readable owner."""
        who = f" by {self.user}" if self.user else ""
        return f"pid {self.pid} on {self.hostname}{who}, since {self.started_at} ({self.purpose})"


def read_lock(path: Path) -> LockInfo | None:
    """The lock file's content; None when it does not exist.

    Raises
    ------
    SessionLocked
        When the file exists but cannot be understood, or is not a regular file (it is never removed
        on a guess).
    """
    advice = "if no session is open, an administrator may delete it"
    try:
        d = read_json_file(path, LOCK_MAX_BYTES, "lock file")
    except FileNotFoundError:
        return None
    except SmallFileError as e:
        raise SessionLocked(f"{e}; {advice}") from e
    except OSError as e:
        raise SessionLocked(f"{path} exists but cannot be read ({e.strerror or e}); {advice}") from e
    except ValueError as e:
        raise SessionLocked(f"{path} exists but cannot be read ({e}); {advice}") from e
    try:
        created = d.get("created")
        return LockInfo(
            int(d["pid"]),
            str(d["hostname"]),
            str(d["started_at"]),
            str(d.get("purpose", "")),
            str(d.get("token", "")),
            None if d.get("pid_start") is None else str(d["pid_start"]),
            None if created is None else float(created),
            str(d.get("user", "")),
        )
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as e:
        raise SessionLocked(f"{path} exists but cannot be read ({e}); {advice}") from e


def is_stale(info: LockInfo) -> bool:
    """Whether the owner is certainly gone (only decidable on the owner's host)."""
    if not same_host(info.hostname):
        return False
    if not pid_alive(info.pid):
        return True
    if info.created is not None:
        now_created = process_created(info.pid)
        return now_created is not None and abs(now_created - info.created) > START_TOLERANCE_S
    if info.pid_start is not None:
        ticks = _legacy_start_ticks(info.pid)
        return ticks is not None and ticks != info.pid_start
    return False


def _me(purpose: str, now: float | None) -> LockInfo:
    pid = os.getpid()
    try:
        user = psutil.Process(pid).username()
    except (psutil.Error, KeyError, OSError):
        user = ""
    return LockInfo(
        pid, host_name(), iso_utc(to_epoch(now)), purpose, uuid.uuid4().hex, None, process_created(pid), user
    )


def break_lock(path: Path) -> LockInfo | None:
    """Remove a lock whatever its owner says (an administrator's decision); returns what it held.

    A lock held by a live process on this host is never broken (:class:`SessionLocked`): that
    session is open. A lock from another host is removed, since only a person can know that its
    owner is gone. A lock file that cannot be read is removed too, once it is known to be a regular
    file (a FIFO or a device in its place is only unlinked). Returns None when there was no lock.

    Raises
    ------
    SessionLocked
        When the owner is alive on this computer.
    """
    path = Path(path)
    try:
        info = read_lock(path)
    except SessionLocked:
        info = None
        if not os.path.lexists(path):
            return None
    else:
        if info is None:
            return None
        if same_host(info.hostname) and not is_stale(info):
            raise SessionLocked(
                f"the lock is held by a running process on this computer ({info.describe()}); "
                "close that session instead"
            )
    if not remove_file(path):
        return info
    fsync_dir(path.parent)
    logger.warning("broke the lock %s (%s)", path, info.describe() if info else "unreadable")
    return info


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
    busy_text, close_hint, remote_hint : str
        The refusal's wording: what is open, what to do, and what to do when the owner is on another host.
    """

    def __init__(
        self,
        path: Path,
        purpose: str = "session",
        on_stale: Callable[[LockInfo], None] | None = None,
        busy_text: str = "this observer already has an open session",
        close_hint: str = "Close it first; a session can be open only once at a time.",
        remote_hint: str = "",
    ) -> None:
        self.busy_text = busy_text
        self.close_hint = close_hint
        self.remote_hint = remote_hint
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
        me = _me(self.purpose, now)
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
                where = "" if same_host(other.hostname) else self.remote_hint
                raise SessionLocked(f"{self.busy_text} ({other.describe()}). {self.close_hint}{where}")
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

    def __enter__(self) -> SessionLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
