"""Session locks live in :mod:`lundprobe_gui.session.locking`; this name stays importable."""

from __future__ import annotations

from ..session.locking import (  # noqa: F401 - re-exported under the old name
    START_TOLERANCE_S,
    LockInfo,
    SessionLock,
    break_lock,
    host_name,
    is_stale,
    pid_alive,
    process_created,
    read_lock,
    same_host,
)
