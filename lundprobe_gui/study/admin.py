"""Who may override the study rules: the administrator, proven by the PIN or the CLI's ``--admin``.

If ``study.json`` holds a PIN hash, every admin action needs that PIN, from the UI and from the
command line alike. Without a PIN, admin actions are only available on the command line with the
explicit ``--admin`` flag (the UI then has no admin functions), since whoever can run commands on
the study folder can edit its files anyway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..core.text import InvalidText, validate_text
from .audit import append_audit, login_name
from .definition import StudyDefinition
from .errors import AdminRequired, StudyError
from .files import lock_file
from .locking import LockInfo, break_lock

logger = logging.getLogger(__name__)


MAX_REASON = 1000


def reason_text(text: str) -> str:
    """An administrator's reason, checked before it goes into a state or the audit log."""
    try:
        return validate_text(text, "the reason", MAX_REASON)
    except InvalidText as e:
        raise StudyError(str(e)) from None


@dataclass(frozen=True)
class AdminAuth:
    """Proof that the administrator asked for an action; recorded in the audit log."""

    by: str
    method: str


def authorise_admin(
    study: StudyDefinition,
    study_dir: str | Path,
    *,
    pin: str | None = None,
    cli_flag: bool = False,
    by: str | None = None,
) -> AdminAuth:
    """Check the admin credentials.

    Parameters
    ----------
    study : StudyDefinition
        The study (its ``admin`` field holds the PIN hash, if any).
    study_dir : path
        The study folder (refusals are logged in its audit log).
    pin : str, optional
        The PIN or passphrase given.
    cli_flag : bool
        True when the command line was given ``--admin``.
    by : str, optional
        Name recorded as the admin (default: the login name).

    Raises
    ------
    AdminRequired
        When the credentials do not authorise admin actions.
    """
    who = by or login_name()
    if study.admin is not None:
        if study.admin.verify(pin):
            return AdminAuth(who, "pin")
        append_audit(study_dir, "admin_refused", reason="wrong or missing PIN", by=who)
        raise AdminRequired("the admin PIN is wrong or missing; nothing was changed")
    if cli_flag:
        return AdminAuth(who, "cli-flag")
    raise AdminRequired(
        "this needs the study administrator: run the command with --admin "
        "(the study has no admin PIN, so admin actions are command-line only)"
    )


def break_session_lock(study_dir: str | Path, observer: str, admin: AdminAuth, reason: str = "") -> LockInfo | None:
    """Remove an observer's session lock left by a computer that is gone (admin only; logged).

    A lock from another host cannot be checked from here, so only the administrator may declare it
    stale. The audit log gets a ``lock_broken`` line with what the lock said, who broke it and why.
    A lock whose owner runs on this computer is refused (:class:`~lundprobe_gui.study.errors.SessionLocked`).

    Returns
    -------
    LockInfo or None
        What the broken lock held (None when it could not be read or there was none).
    """
    if not isinstance(admin, AdminAuth):
        raise StudyError("breaking a session lock needs the administrator")
    reason = reason_text(reason)
    path = lock_file(Path(study_dir), observer)
    existed = path.exists() or path.is_symlink()
    info = break_lock(path)
    if info is None and not existed:
        raise StudyError(f"{observer} has no session lock ({path} does not exist); nothing to break")
    append_audit(
        study_dir,
        "lock_broken",
        observer=observer,
        lock=None if info is None else {k: v for k, v in info.__dict__.items()},
        by=admin.by,
        method=admin.method,
        reason=reason,
    )
    return info
