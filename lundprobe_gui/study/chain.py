"""The hash chain of an observer's session file, kept in the study's audit log (``session_saved`` lines)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path

from ..io.small_files import read_small_bytes
from ..session.chain import ChainCheck, Link, verify_chain
from .admin import AdminAuth, reason_text
from .audit import append_audit, read_audit
from .errors import StudyError
from .files import session_file

logger = logging.getLogger(__name__)

LINK_EVENT = "session_saved"
ACCEPT_EVENT = "session_resealed"


class AuditChain:
    """Appends the links of one observer's saves to the audit log (a :class:`~lundprobe_gui.session.base.ChainLog`)."""

    def __init__(self, study_dir: str | Path, observer: str) -> None:
        self.study_dir = Path(study_dir)
        self.observer = observer

    def append_link(self, revision: int, sha256: str, prev: str | None) -> None:
        """One ``session_saved`` line."""
        append_audit(self.study_dir, LINK_EVENT, observer=self.observer, revision=revision, sha256=sha256, prev=prev)


def observer_links(entries: Iterable[dict], observer: str) -> list[Link]:
    """The observer's links in log order; an administrator's acceptance starts the chain anew."""
    links: list[Link] = []
    for e in entries:
        if e.get("observer") != observer:
            continue
        if e.get("event") == ACCEPT_EVENT:
            links = [Link(int(e.get("revision", 0)), str(e.get("sha256")), None)]
        elif e.get("event") == LINK_EVENT:
            try:
                links.append(Link(int(e["revision"]), str(e["sha256"]), e.get("prev")))
            except (KeyError, TypeError, ValueError):
                logger.warning("a damaged %s line of %s was skipped", LINK_EVENT, observer)
    return links


def file_sha256(study_dir: str | Path, observer: str) -> str | None:
    """sha256 of the observer's session file (None when there is none; OSError when it cannot be read)."""
    path = session_file(Path(study_dir), observer)
    try:
        return hashlib.sha256(read_small_bytes(path, what="session file")).hexdigest()
    except FileNotFoundError:
        return None


def check_session_chain(
    study_dir: str | Path, observer: str, entries: Iterable[dict] | None = None, sha256: str | None = None
) -> ChainCheck:
    """Whether the observer's session file (or the bytes whose ``sha256`` is given) is the state the app saved last."""
    entries = read_audit(study_dir) if entries is None else entries
    if sha256 is None:
        try:
            sha256 = file_sha256(study_dir, observer)
        except OSError as e:
            return ChainCheck(False, str(e))
    return verify_chain(observer_links(entries, observer), sha256)


def accept_session_file(study_dir: str | Path, observer: str, admin: AdminAuth, reason: str = "") -> str:
    """Accept the observer's session file as it is now (admin only; logged); returns its sha256.

    For a file changed outside the app on purpose (a correction the administrator made by hand):
    the chain starts again from it. The file must still pass the checks of its content.
    """
    if not isinstance(admin, AdminAuth):
        raise StudyError("accepting a session file needs the administrator")
    reason = reason_text(reason)
    sha = file_sha256(study_dir, observer)
    if sha is None:
        raise StudyError(f"{observer} has no session file to accept")
    try:
        revision = int(json.loads(read_small_bytes(session_file(Path(study_dir), observer))).get("revision", 0))
    except (ValueError, AttributeError):
        revision = 0
    append_audit(
        study_dir,
        ACCEPT_EVENT,
        observer=observer,
        revision=revision,
        sha256=sha,
        by=admin.by,
        method=admin.method,
        reason=reason,
    )
    return sha
